//! Write throughput of the posts path: batches of realistic posts (~1 KB HTML
//! body, its text, a title and three tags) into SQLite and, when
//! `TEST_DATABASE_URL` is set, PostgreSQL (in a scratch schema, dropped after).
//!
//! `cargo run -p steward-store --example write_speed [--release] -- [POSTS] [BATCH]`

use std::time::Instant;

use steward_domain::{Post, PostId, PostKind, UserId};
use steward_store::{Store, StoreOptions, WriteBatch};

const WORDS: &[&str] = &[
    "the",
    "async",
    "runtime",
    "tokio",
    "borrow",
    "checker",
    "lifetime",
    "trait",
    "impl",
    "generic",
    "iterator",
    "closure",
    "ownership",
    "compile",
    "error",
    "因为",
    "所以",
    "异步",
    "函数",
    "变量",
    "vector",
    "string",
    "slice",
    "pattern",
    "match",
    "enum",
    "struct",
    "module",
    "crate",
    "cargo",
];

/// A deterministic pseudo-random stream (an LCG): the same posts on every run.
struct Words(u64);

impl Words {
    fn next_word(&mut self) -> &'static str {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        WORDS[usize::try_from(self.0 >> 33).expect("31 bits fit") % WORDS.len()]
    }

    fn sentence(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| self.next_word())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn realistic_post(id: i64, words: &mut Words) -> Post {
    let is_question = id % 3 == 0;
    let prose = words.sentence(110);
    let code = format!(
        "fn {}() -> Result<()> {{ {} }}",
        words.next_word(),
        words.sentence(8)
    );
    let body_html = format!(
        "<p>{prose}</p>\n<pre><code>{code}</code></pre>\n<p>{}</p>",
        words.sentence(20)
    );
    let body_text = format!("{prose} {}", words.sentence(20));
    let created_at = chrono::DateTime::from_timestamp_millis(1_500_000_000_000 + id * 60_000)
        .expect("a valid time");
    Post {
        id: PostId(id),
        kind: if is_question {
            PostKind::Question
        } else {
            PostKind::Answer
        },
        parent_id: (!is_question).then(|| PostId(id - id % 3)),
        accepted_answer_id: None,
        owner_id: Some(UserId(id % 1_000)),
        title: is_question.then(|| words.sentence(9)),
        body_html,
        body_text,
        code_blocks: vec![code],
        tags: if is_question {
            vec![
                words.next_word().to_string(),
                "rust".to_string(),
                words.next_word().to_string(),
            ]
        } else {
            Vec::new()
        },
        score: id % 17,
        view_count: id % 1_000,
        answer_count: 2,
        comment_count: 1,
        favorite_count: 0,
        created_at,
        last_activity_at: Some(created_at),
        closed_at: None,
        license: Some("CC BY-SA 4.0".to_string()),
        language: Some("en".to_string()),
    }
}

async fn measure(label: &str, options: StoreOptions, total_posts: i64, batch_size: i64) {
    let store = Store::open_with(options).await.expect("the store opens");
    let mut words = Words(42);
    let batches: Vec<WriteBatch> = (0..total_posts / batch_size)
        .map(|batch_idx| WriteBatch {
            posts: (0..batch_size)
                .map(|offset| realistic_post(batch_idx * batch_size + offset + 1, &mut words))
                .collect(),
            checkpoint: Some(("posts".to_string(), (batch_idx + 1) * batch_size)),
            ..WriteBatch::default()
        })
        .collect();
    let html_bytes: usize = batches
        .iter()
        .flat_map(|batch| &batch.posts)
        .map(|post| post.body_html.len() + post.body_text.len())
        .sum();
    for pass in ["insert", "re-write (upsert)"] {
        let started = Instant::now();
        for batch in &batches {
            store.write(batch).await.expect("the batch is written");
        }
        let seconds = started.elapsed().as_secs_f64();
        let n_posts = batches.len() as f64 * batch_size as f64;
        println!(
            "{label:<10} {pass:<18} {n_posts:>8} posts in {seconds:>6.2} s: {:>8.0} posts/s, {:>6.1} MB/s of body_html+body_text",
            n_posts / seconds,
            html_bytes as f64 / seconds / 1e6,
        );
    }
    store.close().await;
}

#[tokio::main]
async fn main() {
    let mut arguments = std::env::args().skip(1);
    let total_posts: i64 = arguments
        .next()
        .map_or(60_000, |text| text.parse().expect("POSTS is a number"));
    let batch_size: i64 = arguments
        .next()
        .map_or(2_000, |text| text.parse().expect("BATCH is a number"));

    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("speed.db");
    measure(
        "sqlite",
        StoreOptions::new(path.display().to_string()),
        total_posts,
        batch_size,
    )
    .await;

    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        let schema = format!("steward_speed_{}", std::process::id());
        let mut options = StoreOptions::new(url.clone());
        options.schema = Some(schema.clone());
        measure("postgres", options, total_posts, batch_size).await;
        sqlx::any::install_default_drivers();
        let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("PostgreSQL is reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA \"{schema}\" CASCADE"
        )))
        .execute(&mut connection)
        .await
        .expect("the scratch schema drops");
    }
}
