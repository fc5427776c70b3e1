//! What one training run leaves for serving, stored as one artifact version
//! (`recsys`): the id maps, the training matrix (each known member's history
//! for explanations), negatives, the threads' tags, every trained model, the
//! expert-routing index, the validation metrics that chose the default model,
//! and the feed position it reflects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use steward_domain::{PostId, Timestamp, UserId};

use crate::codec::{Reader, Writer};
use crate::dataset::{Dataset, IdMap, InteractionWeights};
use crate::error::{Error, Result};
use crate::experts::ExpertIndex;
use crate::matrix::Interactions;
use crate::metrics::RankingMetrics;
use crate::model::{Model, ModelKind};

/// The artifact name of the recommender.
pub const ARTIFACT: &str = "recsys";
/// The artifact kind recorded in the registry.
pub const ARTIFACT_KIND: &str = "recsys/bundle";
const CODEC_KIND: &str = "recsys-bundle";

/// Facts about a training run, kept in the bundle and in the artifact's metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleInfo {
    /// Change-feed seq read before the data: every event up to it is in.
    pub feed_seq: i64,
    /// The largest `events.id` trained on.
    pub last_event_id: i64,
    pub trained_at: Timestamp,
    pub weights: InteractionWeights,
    /// The model served when a request names none: the best on validation.
    pub default_model: ModelKind,
    /// Validation metrics per model (time-based hold-out of the latest acts).
    pub validation: BTreeMap<String, RankingMetrics>,
    /// The hyper-parameters each model was fitted with, as JSON.
    pub params: BTreeMap<String, serde_json::Value>,
    /// The embedding model of the content vectors, when there were any.
    pub embedding_model: Option<String>,
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
}

/// A trained recommender, ready to serve.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub info: BundleInfo,
    pub users: IdMap<UserId>,
    pub items: IdMap<PostId>,
    pub interactions: Interactions,
    pub negatives: Vec<Vec<u32>>,
    /// Tags of each item, by item index.
    pub item_tags: Vec<Vec<String>>,
    pub models: Vec<Model>,
    pub experts: ExpertIndex,
}

impl Bundle {
    pub fn new(
        info: BundleInfo,
        dataset: Dataset,
        item_tags: Vec<Vec<String>>,
        models: Vec<Model>,
        experts: ExpertIndex,
    ) -> Bundle {
        Bundle {
            info,
            users: dataset.users,
            items: dataset.items,
            interactions: dataset.interactions,
            negatives: dataset.negatives,
            item_tags,
            models,
            experts,
        }
    }

    pub fn model(&self, kind: ModelKind) -> Option<&Model> {
        self.models.iter().find(|model| model.kind() == kind)
    }

    pub fn default_model(&self) -> Option<&Model> {
        self.model(self.info.default_model)
            .or_else(|| self.models.first())
    }

    /// The validation nDCG@10 of the default model: what a new version must beat.
    pub fn score(&self) -> Option<f64> {
        self.info
            .validation
            .get(self.info.default_model.as_str())
            .map(|metrics| metrics.ndcg_at_10)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::new(CODEC_KIND);
        writer.param("info", &self.info);
        writer.u64s(
            "user_ids",
            &self
                .users
                .ids()
                .iter()
                .map(|id| id.0 as u64)
                .collect::<Vec<_>>(),
        );
        writer.u64s(
            "item_ids",
            &self
                .items
                .ids()
                .iter()
                .map(|id| id.0 as u64)
                .collect::<Vec<_>>(),
        );
        let (mut rows, mut columns, mut weights) = (Vec::new(), Vec::new(), Vec::new());
        for (user, item, weight) in self.interactions.triplets() {
            rows.push(user);
            columns.push(item);
            weights.push(weight);
        }
        writer.u32s("rows", &rows);
        writer.u32s("columns", &columns);
        writer.f32s("weights", &weights);
        let (mut negative_users, mut negative_items) = (Vec::new(), Vec::new());
        for (user, items) in self.negatives.iter().enumerate() {
            for item in items {
                negative_users.push(user as u32);
                negative_items.push(*item);
            }
        }
        writer.u32s("negative_users", &negative_users);
        writer.u32s("negative_items", &negative_items);
        writer.bytes(
            "item_tags",
            &serde_json::to_vec(&self.item_tags).expect("tags serialize"),
        );
        writer.param(
            "models",
            self.models
                .iter()
                .map(|model| model.kind().as_str())
                .collect::<Vec<_>>(),
        );
        for model in &self.models {
            writer.bytes(
                &format!("model:{}", model.kind().as_str()),
                &model.to_bytes(),
            );
        }
        writer.bytes(
            "experts",
            &serde_json::to_vec(&self.experts).expect("the expert index serializes"),
        );
        writer.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle> {
        let reader = Reader::new(bytes)?;
        if reader.kind() != CODEC_KIND {
            return Err(Error::Codec(format!(
                "expected a {CODEC_KIND}, found a {}",
                reader.kind()
            )));
        }
        let info: BundleInfo = reader.param("info")?;
        let users = IdMap::from_ids(
            reader
                .u64s("user_ids")?
                .into_iter()
                .map(|id| UserId(id as i64))
                .collect(),
        );
        let items = IdMap::from_ids(
            reader
                .u64s("item_ids")?
                .into_iter()
                .map(|id| PostId(id as i64))
                .collect(),
        );
        let rows = reader.u32s("rows")?;
        let columns = reader.u32s("columns")?;
        let weights = reader.f32s("weights")?;
        if rows.len() != columns.len() || rows.len() != weights.len() {
            return Err(Error::Codec("matrix arrays differ in length".into()));
        }
        if rows.iter().any(|&user| user as usize >= users.len())
            || columns.iter().any(|&item| item as usize >= items.len())
        {
            return Err(Error::Codec("matrix index out of range".into()));
        }
        let interactions = Interactions::from_triplets(
            users.len(),
            items.len(),
            rows.into_iter()
                .zip(columns)
                .zip(weights)
                .map(|((user, item), weight)| (user, item, weight)),
        );
        let negative_users = reader.u32s("negative_users")?;
        let negative_items = reader.u32s("negative_items")?;
        let mut negatives = vec![Vec::new(); users.len()];
        for (user, item) in negative_users.into_iter().zip(negative_items) {
            let list = negatives
                .get_mut(user as usize)
                .ok_or_else(|| Error::Codec("negative of an unknown user".into()))?;
            list.push(item);
        }
        let item_tags: Vec<Vec<String>> = serde_json::from_slice(reader.bytes("item_tags")?)
            .map_err(|error| Error::Codec(format!("item tags: {error}")))?;
        let kinds: Vec<String> = reader.param("models")?;
        let mut models = Vec::with_capacity(kinds.len());
        for kind in kinds {
            models.push(Model::from_bytes(reader.bytes(&format!("model:{kind}"))?)?);
        }
        let experts: ExpertIndex = serde_json::from_slice(reader.bytes("experts")?)
            .map_err(|error| Error::Codec(format!("expert index: {error}")))?;
        Ok(Bundle {
            info,
            users,
            items,
            interactions,
            negatives,
            item_tags,
            models,
            experts: experts.reindexed(),
        })
    }
}
