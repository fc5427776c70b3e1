//! `steward kg ...`: build the knowledge graph (a recorded job), apply the
//! change feed to it, train the tagger, and ask it: an entity's page, the
//! top entities and relations, an explanation path, an export for Gephi
//! (GraphML) or web viewers (JSON nodes/links).

use std::path::PathBuf;

use anyhow::Context as _;
use steward_jobs::JobHandle;
use steward_kg::relation::Relation;
use steward_kg::service::{KgService, Served};
use steward_kg::view::GraphView;
use steward_kg::vocab::EntityKind;
use steward_runtime::build;
use steward_runtime::jobs::{JobOutput, JobSpec};

use crate::{Context, progress};

#[derive(Debug, clap::Subcommand)]
pub enum KgCommand {
    /// Build the graph anew from the community (vocabulary from tags, the
    /// tagger's names, links, typed relations, GraphSAGE) as a recorded job.
    Build(BuildArgs),
    /// Apply the posts written since the last build or update (no rebuild).
    Update(JsonArgs),
    /// Train the sequence tagger on a CoNLL corpus and store it (artifact `ner`).
    TrainNer(TrainNerArgs),
    /// An entity's page (description, neighbours by relation with
    /// provenance, related concepts, top posts, experts), or a list.
    Show(ShowArgs),
    /// The shortest explanation path between two entities.
    Path(PathArgs),
    /// Export the graph (or a k-hop subgraph) as GraphML or JSON nodes/links.
    Export(ExportArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward kg build\n  \
    steward kg build --top 20 --json")]
pub struct BuildArgs {
    /// Entities and typed relations to list after the build.
    #[arg(long, default_value_t = 20)]
    top: usize,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct JsonArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward kg train-ner\n  \
    steward kg train-ner --corpus ../shared/data/stackoverflow-ner/train.txt")]
pub struct TrainNerArgs {
    /// The CoNLL training file [config: kg.ner_corpus].
    #[arg(long, value_name = "FILE")]
    corpus: Option<PathBuf>,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward kg show tensorflow\n  \
    steward kg show --search neural --kind concept\n  \
    steward kg show --relations is_a --top 20\n  \
    steward kg show 12 --json")]
pub struct ShowArgs {
    /// An entity: its id, name or any alias. Without it: the top entities.
    entity: Option<String>,

    /// List entities whose names contain this text.
    #[arg(long, conflicts_with = "entity")]
    search: Option<String>,

    /// Only entities of this kind (language, library, framework, tool,
    /// platform, api, error, concept, version).
    #[arg(long)]
    kind: Option<EntityKind>,

    /// List the strongest edges of this relation (`typed` for every typed one).
    #[arg(long, conflicts_with = "entity")]
    relations: Option<String>,

    /// How many to list.
    #[arg(long, default_value_t = 20)]
    top: usize,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward kg path keras tensorflow\n  \
    steward kg path q-learning neural-networks --json")]
pub struct PathArgs {
    from: String,
    to: String,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Graphml,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward kg export --out graph.graphml\n  \
    steward kg export --format json --seed tensorflow --hops 2 --out tf.json")]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "graphml")]
    format: ExportFormat,

    /// Write here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Export only the k-hop neighbourhood of these entities (repeatable).
    #[arg(long)]
    seed: Vec<String>,

    /// Hops around the seeds.
    #[arg(long, default_value_t = 2)]
    hops: usize,

    /// At most this many nodes in a seeded export.
    #[arg(long, default_value_t = 500)]
    max_nodes: usize,
}

pub async fn run(command: KgCommand, context: &Context) -> anyhow::Result<()> {
    match command {
        KgCommand::Build(args) => build_graph(args, context).await,
        KgCommand::Update(args) => update(args, context).await,
        KgCommand::TrainNer(args) => train_ner(args, context).await,
        KgCommand::Show(args) => show(args, context).await,
        KgCommand::Path(args) => path(args, context).await,
        KgCommand::Export(args) => export(args, context).await,
    }
}

async fn build_graph(args: BuildArgs, context: &Context) -> anyhow::Result<()> {
    let store = build::open_store(&context.config).await?;
    let outcome = super::jobs::run_recorded(context, &store, JobSpec::BuildKg {}).await;
    let output = match outcome {
        Ok(output) => output.context("building the knowledge graph")?,
        Err(error) => {
            store.close().await;
            return Err(error);
        }
    };
    let JobOutput::BuildKg { report, warnings } = output else {
        anyhow::bail!("a build job returned something else than its report");
    };
    let service = KgService::new(store.clone());
    let served = service
        .served()
        .await
        .context("loading the graph just built")?;
    if args.json {
        let mut value = serde_json::to_value(&*report)?;
        value["warnings"] = serde_json::json!(warnings);
        value["top_entities"] = serde_json::to_value(served.top(args.top))?;
        value["top_relations"] =
            serde_json::json!(top_relations(&service, &served, None, args.top).await?);
        println!("{value}");
        store.close().await;
        return Ok(());
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "kg v{}: {} entities ({} from tags, {} found by the tagger), {} posts, {} mentions, {} evidence rows in {:.1} s",
        report.version.unwrap_or(0),
        report.entities,
        report.from_tags,
        report.from_ner,
        report.posts,
        report.mentions,
        report.evidence,
        report.seconds
    );
    let edges: Vec<String> = report
        .edges
        .iter()
        .map(|(relation, count)| format!("{relation} {count}"))
        .collect();
    println!(
        "edges: {}; node features: {}",
        edges.join(", "),
        report.features
    );
    println!("\ntop {} entities (PageRank):", args.top);
    print_entities(&served.top(args.top));
    println!("\ntop {} typed relations:", args.top);
    print_relations(&top_relations(&service, &served, None, args.top).await?);
    store.close().await;
    Ok(())
}

/// A relation as listed: both ends, the edge, one piece of provenance.
#[derive(Debug, serde::Serialize)]
struct RelationLine {
    source: String,
    relation: Relation,
    target: String,
    weight: f64,
    evidence: u32,
    post_id: Option<i64>,
    extractor: Option<String>,
    sentence: Option<String>,
}

async fn top_relations(
    service: &KgService,
    served: &Served,
    relation: Option<Relation>,
    limit: usize,
) -> anyhow::Result<Vec<RelationLine>> {
    let mut lines = Vec::new();
    for edge in served.top_edges(relation, limit) {
        let name = |id: i64| {
            served
                .entity(id)
                .map_or_else(|| id.to_string(), |entity| entity.name.clone())
        };
        let provenance = service.edge_provenance(&edge, 1).await?;
        let first = provenance.into_iter().next();
        lines.push(RelationLine {
            source: name(edge.source),
            relation: edge.relation,
            target: name(edge.target),
            weight: edge.weight,
            evidence: edge.evidence,
            post_id: first.as_ref().map(|p| p.post_id),
            extractor: first.as_ref().map(|p| p.extractor.clone()),
            sentence: first.map(|p| p.sentence),
        });
    }
    Ok(lines)
}

fn print_entities(entities: &[steward_kg::service::EntityBrief]) {
    println!(
        "{:>6}  {:<32} {:<10} {:>8} {:>9} {:>5}",
        "id", "name", "kind", "mentions", "pagerank", "topic"
    );
    for entity in entities {
        println!(
            "{:>6}  {:<32} {:<10} {:>8} {:>9.5} {:>5}",
            entity.id, entity.name, entity.kind, entity.mentions, entity.pagerank, entity.community
        );
    }
}

fn print_relations(lines: &[RelationLine]) {
    if lines.is_empty() {
        println!("  (none)");
    }
    for line in lines {
        println!(
            "  {} --{}--> {}  (weight {:.2}, {} evidence)",
            line.source, line.relation, line.target, line.weight, line.evidence
        );
        if let (Some(post), Some(extractor)) = (line.post_id, &line.extractor) {
            let sentence: String = line
                .sentence
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(140)
                .collect();
            println!("      post {post}, {extractor}: {sentence}");
        }
    }
}

async fn update(args: JsonArgs, context: &Context) -> anyhow::Result<()> {
    let store = build::open_store(&context.config).await?;
    let job = JobHandle::new();
    let (tagger, warning) = steward_runtime::kg::tagger(&context.config, &store, &job).await?;
    if let Some(warning) = warning {
        eprintln!("warning: {warning}");
    }
    let report = steward_kg::build::update(
        &store,
        tagger.as_ref(),
        &steward_runtime::kg::build_options(&context.config),
    )
    .await
    .context("updating the knowledge graph")?;
    store.close().await;
    if args.json {
        println!("{}", serde_json::to_value(&report)?);
    } else {
        println!(
            "applied {} posts ({} mentions, {} evidence rows), {} new entities; feed at {}",
            report.posts, report.mentions, report.evidence, report.new_entities, report.feed_seq
        );
    }
    Ok(())
}

async fn train_ner(args: TrainNerArgs, context: &Context) -> anyhow::Result<()> {
    let store = build::open_store(&context.config).await?;
    let corpus = args
        .corpus
        .unwrap_or_else(|| steward_runtime::kg::ner_corpus(&context.config));
    let job = JobHandle::new();
    let outcome = progress::run(&job, steward_runtime::kg::train_ner(&store, &corpus, &job)).await;
    store.close().await;
    let (_, report) = outcome?;
    if args.json {
        println!("{}", serde_json::to_value(&report)?);
    } else {
        println!(
            "ner v{}: trained on {} sentences of {} in {:.1} s (promoted)",
            report.version, report.sentences, report.corpus, report.seconds
        );
    }
    Ok(())
}

async fn service(
    context: &Context,
) -> anyhow::Result<(steward_store::Store, KgService, std::sync::Arc<Served>)> {
    let store = build::open_store(&context.config).await?;
    let service = KgService::new(store.clone());
    let served = service
        .served()
        .await
        .context("loading the knowledge graph")?;
    Ok((store, service, served))
}

async fn show(args: ShowArgs, context: &Context) -> anyhow::Result<()> {
    let (store, service, served) = service(context).await?;
    let result = show_inner(&args, &service, &served).await;
    store.close().await;
    result
}

async fn show_inner(args: &ShowArgs, service: &KgService, served: &Served) -> anyhow::Result<()> {
    if let Some(relation) = &args.relations {
        let relation = match relation.as_str() {
            "typed" => None,
            name => Some(
                name.parse::<Relation>()
                    .map_err(|error| anyhow::anyhow!("--relations: {error}"))?,
            ),
        };
        let lines = top_relations(service, served, relation, args.top).await?;
        if args.json {
            println!("{}", serde_json::json!({ "relations": lines }));
        } else {
            print_relations(&lines);
        }
        return Ok(());
    }
    let Some(entity) = &args.entity else {
        let list = served.search(args.search.as_deref().unwrap_or(""), args.kind, args.top);
        if args.json {
            println!("{}", serde_json::json!({ "entities": list }));
        } else {
            print_entities(&list);
        }
        return Ok(());
    };
    let page = service.entity_page(entity).await?;
    if args.json {
        println!("{}", serde_json::to_value(&page)?);
        return Ok(());
    }
    println!(
        "{} [{}] #{} — {} mentions, PageRank {:.5}, topic {}",
        page.entity.name,
        page.entity.kind,
        page.entity.id,
        page.entity.mentions,
        page.entity.pagerank,
        page.entity.community
    );
    if !page.aliases.is_empty() {
        println!("also: {}", page.aliases.join(", "));
    }
    println!("{}\n", page.description);
    for (relation, neighbours) in &page.neighbours {
        let names: Vec<String> = neighbours
            .iter()
            .map(|n| {
                let arrow = if n.outgoing || !relation_is_directed(relation) {
                    ""
                } else {
                    "← "
                };
                format!("{arrow}{} ({:.2})", n.entity.name, n.weight)
            })
            .collect();
        println!("{relation}: {}", names.join(", "));
        for neighbour in neighbours
            .iter()
            .filter(|n| !n.provenance.is_empty())
            .take(3)
        {
            let first = &neighbour.provenance[0];
            let sentence: String = first.sentence.chars().take(120).collect();
            println!(
                "    {} — post {}: {sentence}",
                neighbour.entity.name, first.post_id
            );
        }
    }
    if !page.related.is_empty() {
        let names: Vec<String> = page
            .related
            .iter()
            .map(|r| format!("{} ({:.2})", r.entity.name, r.score))
            .collect();
        println!("related concepts to learn next: {}", names.join(", "));
    }
    if !page.top_posts.is_empty() {
        println!("\ntop posts:");
        for post in &page.top_posts {
            println!(
                "  #{} ({}) {}",
                post.id,
                post.score,
                post.title.as_deref().unwrap_or("")
            );
        }
    }
    if !page.experts.is_empty() {
        let experts: Vec<String> = page
            .experts
            .iter()
            .map(|e| {
                format!(
                    "user {} ({} answers, {} accepted)",
                    e.user_id, e.answers, e.accepted
                )
            })
            .collect();
        println!("experts: {}", experts.join("; "));
    }
    Ok(())
}

fn relation_is_directed(name: &str) -> bool {
    name.parse::<Relation>().is_ok_and(Relation::directed)
}

async fn path(args: PathArgs, context: &Context) -> anyhow::Result<()> {
    let (store, service, _) = service(context).await?;
    let found = service.path(&args.from, &args.to).await;
    store.close().await;
    let found = found?;
    if args.json {
        println!("{}", serde_json::json!({ "path": found }));
        return Ok(());
    }
    let Some(path) = found else {
        println!(
            "no path of at most {} steps between {} and {}",
            steward_kg::service::MAX_PATH_HOPS,
            args.from,
            args.to
        );
        return Ok(());
    };
    println!(
        "{} → {} ({} steps, cost {:.2}):",
        path.from.name,
        path.to.name,
        path.steps.len(),
        path.cost
    );
    for step in &path.steps {
        let (a, b) = if step.forward {
            (&step.from.name, &step.to.name)
        } else {
            (&step.to.name, &step.from.name)
        };
        println!("  {a} --{}--> {b}", step.relation);
        if let Some(first) = step.provenance.first() {
            let sentence: String = first.sentence.chars().take(120).collect();
            println!(
                "      post {} ({}): {sentence}",
                first.post_id, first.extractor
            );
        }
    }
    Ok(())
}

async fn export(args: ExportArgs, context: &Context) -> anyhow::Result<()> {
    let (store, _, served) = service(context).await?;
    store.close().await;
    let view: GraphView = if args.seed.is_empty() {
        served.view.clone()
    } else {
        let seeds = args
            .seed
            .iter()
            .map(|seed| served.resolve(seed))
            .collect::<Result<Vec<i64>, _>>()?;
        served.view.subgraph(&seeds, args.hops, args.max_nodes)
    };
    let text = match args.format {
        ExportFormat::Graphml => view.to_graphml(),
        ExportFormat::Json => serde_json::to_string_pretty(&view.to_json())?,
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} nodes and {} edges to {}",
                view.nodes().len(),
                view.edges().len(),
                path.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(())
}
