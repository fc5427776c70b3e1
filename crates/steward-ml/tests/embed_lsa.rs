//! LSA embedder: related texts score higher than unrelated ones, on a small
//! written corpus (always) and on a real community (ai.stackexchange.com 2016
//! from ../shared/data, when present): linked and duplicate questions must be
//! found near each other.

use std::collections::HashMap;

use steward_jobs::JobHandle;
use steward_ml::embed::lsa::{LsaConfig, LsaEmbedder};
use steward_testkit::require_shared;

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

const CORPUS: &[&str] = &[
    "How do I undo the last git commit without losing my changes?",
    "git reset --soft HEAD~1 keeps the changes of the commit staged",
    "Revert a pushed git commit on the master branch",
    "git rebase interactive to squash commits before a merge",
    "Delete a remote git branch after the merge",
    "pandas DataFrame groupby then count unique values per group",
    "Read a CSV file with pandas and parse the date column",
    "pandas merge two DataFrames on a key column like SQL join",
    "Drop rows with NaN values from a pandas DataFrame",
    "Rust borrow checker: cannot borrow as mutable because it is also borrowed as immutable",
    "Rust lifetime of a reference returned from a function",
    "Why does the Rust borrow checker reject two mutable borrows of a Vec?",
    "Rust String vs &str: when to borrow and when to own",
    "神经网络的反向传播是如何计算梯度的？",
    "反向传播算法中梯度消失问题怎么解决？",
    "卷积神经网络为什么适合图像识别？",
    "神经网络训练时梯度爆炸怎么办？",
    "Stake pool relay node configuration for Cardano mainnet",
    "How many ADA do I need to register a Cardano stake pool?",
    "Cardano stake pool rewards and the pledge of the operator",
];

fn train(texts: &[&str]) -> LsaEmbedder {
    let config = LsaConfig {
        dim: 16,
        min_df: 1,
        ..LsaConfig::default()
    };
    LsaEmbedder::train(texts, &config, &JobHandle::new()).expect("trains")
}

/// `check(query, related, unrelated)`: the query is closer to the related text.
#[test]
fn related_texts_score_higher_than_unrelated_ones() {
    let lsa = train(CORPUS);
    let check = |query: &str, related: &str, unrelated: &str| {
        let (q, r, u) = (lsa.embed(query), lsa.embed(related), lsa.embed(unrelated));
        assert!(
            cosine(&q, &r) > cosine(&q, &u),
            "{query:?}: related {:.3} <= unrelated {:.3}",
            cosine(&q, &r),
            cosine(&q, &u)
        );
    };
    check("undo a git commit", CORPUS[1], CORPUS[6]);
    check("group a pandas DataFrame and count", CORPUS[5], CORPUS[0]);
    check("mutable borrow error in Rust", CORPUS[11], CORPUS[7]);
    check("反向传播 梯度", CORPUS[14], CORPUS[18]);
    check("register a stake pool", CORPUS[19], CORPUS[3]);
}

#[test]
fn training_is_deterministic_and_the_model_survives_a_round_trip() {
    let first = train(CORPUS);
    let second = train(CORPUS);
    assert_eq!(first.model_id(), second.model_id());
    assert_eq!(first.to_bytes(), second.to_bytes());
    let restored = LsaEmbedder::from_bytes(&first.to_bytes()).expect("reads back");
    assert_eq!(restored.model_id(), first.model_id());
    for text in CORPUS {
        assert_eq!(restored.embed(text), first.embed(text));
    }
    assert!(LsaEmbedder::from_bytes(b"not a model").is_err());
}

#[test]
fn vectors_are_unit_length_or_zero_when_no_term_is_known() {
    let lsa = train(CORPUS);
    assert_eq!(lsa.dim(), 16);
    let vector = lsa.embed("pandas CSV date column");
    let norm: f32 = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    assert!(lsa.embed("zzzz qqqq").iter().all(|x| *x == 0.0));
    let values = lsa.singular_values();
    assert!(
        values.windows(2).all(|pair| pair[0] >= pair[1]),
        "{values:?}"
    );
}

fn attribute(line: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = line.find(&key)? + key.len();
    let end = start + line[start..].find('"')?;
    let raw = &line[start..end];
    let unescaped = raw
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#xA;", "\n")
        .replace("&#xD;", "")
        .replace("&amp;", "&");
    // Tags out: a test corpus needs words, not markup.
    let mut text = String::with_capacity(unescaped.len());
    let mut in_tag = false;
    for character in unescaped.chars() {
        match character {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(character),
            _ => {}
        }
    }
    Some(text)
}

#[test]
fn linked_questions_of_a_real_community_are_found_near_each_other() {
    let dir = require_shared!(data "se-ai-2017");
    let posts = std::fs::read_to_string(dir.join("Posts.xml")).expect("Posts.xml");
    let mut questions: Vec<(i64, String)> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    for line in posts.lines().filter(|line| line.contains("<row ")) {
        let body = attribute(line, "Body").unwrap_or_default();
        let text = match attribute(line, "Title") {
            Some(title) => format!("{title}\n{body}"),
            None => body,
        };
        if attribute(line, "PostTypeId").as_deref() == Some("1") {
            let id: i64 = attribute(line, "Id")
                .and_then(|id| id.parse().ok())
                .expect("Id");
            questions.push((id, text.clone()));
        }
        texts.push(text);
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let lsa = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(|| {
            // 96 dimensions rather than 256 keep this test quick in a debug build.
            let config = LsaConfig {
                dim: 96,
                ..LsaConfig::default()
            };
            LsaEmbedder::train(&refs, &config, &JobHandle::new()).expect("trains")
        });
    let index: HashMap<i64, usize> = questions
        .iter()
        .enumerate()
        .map(|(row, (id, _))| (*id, row))
        .collect();
    let vectors: Vec<Vec<f32>> = questions.iter().map(|(_, text)| lsa.embed(text)).collect();

    let links = std::fs::read_to_string(dir.join("PostLinks.xml")).expect("PostLinks.xml");
    let mut ranks = Vec::new();
    for line in links.lines().filter(|line| line.contains("<row ")) {
        let id = |name| attribute(line, name).and_then(|id| id.parse::<i64>().ok());
        let (Some(from), Some(to)) = (id("PostId"), id("RelatedPostId")) else {
            continue;
        };
        let (Some(&a), Some(&b)) = (index.get(&from), index.get(&to)) else {
            continue;
        };
        if a == b {
            continue;
        }
        let target = cosine(&vectors[a], &vectors[b]);
        let better = (0..vectors.len())
            .filter(|&other| other != a && cosine(&vectors[a], &vectors[other]) > target)
            .count();
        ranks.push(better + 1);
    }
    assert!(
        ranks.len() >= 20,
        "only {} linked question pairs",
        ranks.len()
    );
    ranks.sort_unstable();
    let median = ranks[ranks.len() / 2];
    let top_ten = ranks.iter().filter(|&&rank| rank <= 10).count() as f64 / ranks.len() as f64;
    eprintln!(
        "{} linked pairs among {} questions: median rank {median}, {:.0}% in the top 10",
        ranks.len(),
        questions.len(),
        top_ten * 100.0
    );
    // A random ranking puts the median near questions/2 (~210) and 2% in the top
    // 10. Seen here: median 39 and 35% at 96 dimensions (22 and 42% at 256).
    assert!(median <= 60, "median rank {median}");
    assert!(top_ten >= 0.25, "{:.0}% in the top 10", top_ten * 100.0);
}
