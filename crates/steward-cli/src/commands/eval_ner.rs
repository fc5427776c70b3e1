//! `steward eval ner`: the software-entity tagger's quality. Trains on the Stack Overflow NER
//! corpus's train split and scores a CoNLL file (the dev split by default) entity by entity,
//! under the paper's protocol (merged types, placeholder and header sentences dropped).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use steward_ml::ner::{self, NerReport, NerTrainOptions, Protocol, Tagger};

/// The corpus folder under the shared data folder.
const CORPUS: &str = "stackoverflow-ner";

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    steward eval ner\n  \
    steward eval ner --file ../shared/data/stackoverflow-ner/dev.txt --epochs 8 --json")]
pub struct EvalNerArgs {
    /// The CoNLL file to score [default: DATA_DIR/stackoverflow-ner/dev.txt].
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,

    /// The CoNLL file to train on [default: DATA_DIR/stackoverflow-ner/train.txt].
    #[arg(long, value_name = "FILE")]
    train: Option<PathBuf>,

    /// Folder of the shared data (holding stackoverflow-ner/).
    #[arg(long, env = "STEWARD_DATA_DIR", default_value = "../shared/data")]
    data_dir: PathBuf,

    /// Passes over the training sentences [default: the tagger's default].
    #[arg(long)]
    epochs: Option<usize>,

    /// Print one JSON object (the report, percentages, and `train_seconds`) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &EvalNerArgs) -> anyhow::Result<()> {
    let corpus = args.data_dir.join(CORPUS);
    let train_path = args
        .train
        .clone()
        .unwrap_or_else(|| corpus.join("train.txt"));
    let score_path = args.file.clone().unwrap_or_else(|| corpus.join("dev.txt"));
    let protocol = Protocol::default();
    let train = read(&train_path, "--train", &protocol)?;
    let gold = read(&score_path, "--file", &protocol)?;
    anyhow::ensure!(
        !train.is_empty(),
        "{} holds no sentences to train on",
        train_path.display()
    );

    let mut options = NerTrainOptions::default();
    if let Some(epochs) = args.epochs {
        anyhow::ensure!(epochs > 0, "--epochs must be at least 1");
        options.epochs = epochs;
    }
    let started = Instant::now();
    let tagger = Tagger::train(&train, &options, &mut |epoch, epochs| {
        eprint!("\rtraining: epoch {epoch}/{epochs}");
    });
    eprintln!();
    let train_seconds = started.elapsed().as_secs_f64();
    let report = ner::evaluate(&tagger, &gold);

    if args.json {
        let mut object = match serde_json::to_value(&report).context("serialising the report")? {
            serde_json::Value::Object(object) => object,
            other => anyhow::bail!("the report serialised as {other}, not an object"),
        };
        object.insert(
            "train_seconds".into(),
            serde_json::json!((train_seconds * 100.0).round() / 100.0),
        );
        println!("{}", serde_json::Value::Object(object));
        return Ok(());
    }
    println!(
        "trained on {} ({} sentences, {} epochs) in {train_seconds:.1} s; scored {} ({} sentences, {} tokens)",
        train_path.display(),
        train.len(),
        options.epochs,
        score_path.display(),
        report.sentences,
        report.tokens
    );
    print_table(&report);
    println!(
        "(entity-level exact match, percent; the paper's protocol: merged types, placeholders dropped)"
    );
    Ok(())
}

/// The sentences of a corpus file, or an error that says which flag names it and what to do.
fn read(path: &Path, flag: &str, protocol: &Protocol) -> anyhow::Result<Vec<ner::Sentence>> {
    anyhow::ensure!(
        path.is_file(),
        "{} not found: give {flag} FILE, or point --data-dir (or STEWARD_DATA_DIR) at the folder \
         holding {CORPUS}/ (the Stack Overflow NER corpus, github.com/jeniyat/StackOverflowNER)",
        path.display()
    );
    ner::conll::read(path, protocol).with_context(|| format!("reading {}", path.display()))
}

fn print_table(report: &NerReport) {
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>8}",
        "type", "precision", "recall", "F1", "support"
    );
    for (kind, figures) in &report.per_type {
        println!(
            "{kind:<24} {:>9.2} {:>9.2} {:>9.2} {:>8}",
            figures.precision, figures.recall, figures.f1, figures.support
        );
    }
    let micro = &report.micro;
    println!(
        "{:<24} {:>9.2} {:>9.2} {:>9.2} {:>8}",
        "micro", micro.precision, micro.recall, micro.f1, micro.support
    );
}
