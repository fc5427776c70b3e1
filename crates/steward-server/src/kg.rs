//! The knowledge graph's routes: entity search, an entity's page, the
//! explanation path between two entities, and a k-hop subgraph (JSON
//! nodes/links or GraphML). Parameters are read and checked here; the work
//! is `steward_kg::service`'s.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use steward_kg::service::{EntityBrief, EntityPage, KgService, PathAnswer};
use steward_kg::vocab::EntityKind;

use crate::AppState;
use crate::error::ApiError;

/// Entities listed unless `limit` says.
pub const DEFAULT_LIMIT: usize = 20;
/// Most entities one list may ask for.
pub const MAX_LIMIT: usize = 200;
/// Most hops and nodes a subgraph may ask for.
pub const MAX_HOPS: usize = 3;
pub const MAX_NODES: usize = 2_000;

/// `?q=&kind=&limit=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityParams {
    pub q: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<String>,
}

/// `?from=&to=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathParams {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// `?seeds=a,b&hops=&max_nodes=&format=json|graphml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubgraphParams {
    pub seeds: Option<String>,
    pub hops: Option<String>,
    pub max_nodes: Option<String>,
    pub format: Option<String>,
}

/// `GET /api/v1/kg/entities`.
#[derive(Debug, Serialize)]
pub struct EntityList {
    pub entities: Vec<EntityBrief>,
}

/// `GET /api/v1/kg/path`: `path` is null when no path of at most
/// [`steward_kg::service::MAX_PATH_HOPS`] steps joins them.
#[derive(Debug, Serialize)]
pub struct PathDto {
    pub path: Option<PathAnswer>,
}

/// What a subgraph request returns: JSON, or GraphML text.
#[derive(Debug)]
pub enum Subgraph {
    Json(serde_json::Value),
    Graphml(String),
}

fn service(state: &AppState) -> Result<&KgService, ApiError> {
    state.kg.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "kg_unavailable",
            "the knowledge graph is not set up on this server; its log says why",
        )
    })
}

impl From<steward_kg::Error> for ApiError {
    fn from(error: steward_kg::Error) -> ApiError {
        use steward_kg::Error as Kg;
        match error {
            Kg::Store(error) => ApiError::from(error),
            Kg::NotBuilt => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "kg_unavailable",
                error.to_string(),
            ),
            Kg::UnknownEntity(_) => ApiError::not_found(error.to_string()),
            other => ApiError::internal(&other),
        }
    }
}

fn parse_count(
    name: &str,
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_parameter(
                name,
                format!("`{name}` must be a whole number from 1 to {max}, not `{text}`"),
            )),
        },
    }
}

fn required<'p>(name: &str, value: Option<&'p str>) -> Result<&'p str, ApiError> {
    value
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_parameter(name, format!("`{name}` is required: an entity id or name"))
        })
}

pub async fn entities(state: &AppState, params: &EntityParams) -> Result<EntityList, ApiError> {
    let limit = parse_count("limit", params.limit.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let kind = params
        .kind
        .as_deref()
        .map(|text| {
            text.parse::<EntityKind>()
                .map_err(|message| ApiError::invalid_parameter("kind", message))
        })
        .transpose()?;
    let served = service(state)?.served().await?;
    Ok(EntityList {
        entities: served.search(params.q.as_deref().unwrap_or(""), kind, limit),
    })
}

pub async fn entity(state: &AppState, id: &str) -> Result<EntityPage, ApiError> {
    Ok(service(state)?.entity_page(id).await?)
}

pub async fn path(state: &AppState, params: &PathParams) -> Result<PathDto, ApiError> {
    let from = required("from", params.from.as_deref())?;
    let to = required("to", params.to.as_deref())?;
    Ok(PathDto {
        path: service(state)?.path(from, to).await?,
    })
}

pub async fn subgraph(state: &AppState, params: &SubgraphParams) -> Result<Subgraph, ApiError> {
    let seeds = required("seeds", params.seeds.as_deref())?;
    let hops = match params.hops.as_deref() {
        None => 1,
        Some(text) => match text.parse::<usize>() {
            Ok(hops) if hops <= MAX_HOPS => hops,
            _ => {
                return Err(ApiError::invalid_parameter(
                    "hops",
                    format!("`hops` must be a whole number from 0 to {MAX_HOPS}, not `{text}`"),
                ));
            }
        },
    };
    let max_nodes = parse_count("max_nodes", params.max_nodes.as_deref(), 200, MAX_NODES)?;
    let graphml = match params.format.as_deref() {
        None | Some("json") => false,
        Some("graphml") => true,
        Some(other) => {
            return Err(ApiError::invalid_parameter(
                "format",
                format!("`format` must be json or graphml, not `{other}`"),
            ));
        }
    };
    let served = service(state)?.served().await?;
    let ids = seeds
        .split(',')
        .map(str::trim)
        .filter(|seed| !seed.is_empty())
        .map(|seed| served.resolve(seed))
        .collect::<Result<Vec<i64>, _>>()?;
    let view = served.view.subgraph(&ids, hops, max_nodes);
    Ok(if graphml {
        Subgraph::Graphml(view.to_graphml())
    } else {
        Subgraph::Json(view.to_json())
    })
}
