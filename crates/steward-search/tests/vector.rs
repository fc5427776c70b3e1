//! The vector index over a real store: built from stored embeddings of thread
//! roots, kept current through the change feed, saved and loaded through the
//! artifact registry; exact and HNSW. On SQLite and (when `TEST_DATABASE_URL`
//! is set, always under `CI=true`) PostgreSQL.

use std::collections::HashMap;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use steward_domain::{Post, PostId, PostKind};
use steward_jobs::JobHandle;
use steward_search::{
    Error, IndexReport, VectorHit, VectorIndex, VectorIndexKind, VectorOptions, vector_index_name,
};
use steward_store::{Store, StoredEmbedding, WriteBatch};
use steward_testkit::fixtures::{post, user};
use steward_testkit::{TestDb, on_every_backend};

const MODEL: &str = "test-minilm-384";
const DIMS: usize = 384;
const TOPICS: usize = 8;
const QUESTIONS: i64 = 60;
const ARTICLES: [i64; 5] = [101, 102, 103, 104, 105];
const FIRST_ANSWER: i64 = 201;

fn unit(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    for value in &mut vector {
        *value /= norm;
    }
    vector
}

fn random_vector(rng: &mut ChaCha8Rng) -> Vec<f32> {
    unit((0..DIMS).map(|_| rng.random_range(-1.0f32..1.0)).collect())
}

/// `base` moved by `noise` in a random direction: a text on the same topic.
fn near(base: &[f32], noise: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let step = random_vector(rng);
    unit(base.iter().zip(&step).map(|(b, s)| b + noise * s).collect())
}

/// Vectors that look like sentence embeddings: posts cluster around their
/// topic, and an answer sits close to its question.
struct Community {
    vectors: HashMap<PostId, Vec<f32>>,
    rng: ChaCha8Rng,
}

fn embedding(post_id: PostId, vector: &[f32]) -> StoredEmbedding {
    StoredEmbedding {
        post_id,
        model: MODEL.to_string(),
        content_hash: post_id.0,
        vector: vector.to_vec(),
    }
}

/// 60 questions over 8 topics, 5 articles, an answer under each of the first
/// 30 questions and a comment, all with vectors: only the 65 roots are indexed.
async fn seed(store: &Store) -> Community {
    let mut rng = ChaCha8Rng::seed_from_u64(384);
    let topics: Vec<Vec<f32>> = (0..TOPICS).map(|_| random_vector(&mut rng)).collect();
    let mut posts: Vec<Post> = Vec::new();
    let mut vectors = HashMap::new();
    for id in 1..=QUESTIONS {
        posts.push(post(id, PostKind::Question, None, 1_700_000_000_000 + id));
        let topic = &topics[id as usize % TOPICS];
        vectors.insert(PostId(id), near(topic, 0.8, &mut rng));
    }
    for id in ARTICLES {
        posts.push(post(id, PostKind::Article, None, 1_700_000_000_000 + id));
        vectors.insert(PostId(id), random_vector(&mut rng));
    }
    for question in 1..=30 {
        let id = FIRST_ANSWER + question - 1;
        posts.push(post(
            id,
            PostKind::Answer,
            Some(question),
            1_700_000_100_000 + id,
        ));
        let close = near(&vectors[&PostId(question)], 0.05, &mut rng);
        vectors.insert(PostId(id), close);
    }
    posts.push(post(301, PostKind::Comment, Some(1), 1_700_000_200_000));
    vectors.insert(PostId(301), vectors[&PostId(1)].clone());
    store
        .write(&WriteBatch {
            users: vec![user(1)],
            posts,
            ..WriteBatch::default()
        })
        .await
        .expect("posts written");
    let rows: Vec<StoredEmbedding> = vectors
        .iter()
        .map(|(post_id, vector)| embedding(*post_id, vector))
        .collect();
    store.put_embeddings(&rows).await.expect("vectors written");
    Community { vectors, rng }
}

fn is_root(post_id: PostId) -> bool {
    (1..=QUESTIONS).contains(&post_id.0) || ARTICLES.contains(&post_id.0)
}

fn ids(hits: &[VectorHit]) -> Vec<i64> {
    hits.iter().map(|hit| hit.post_id.0).collect()
}

/// Edits a post's text, as an import or an edit would: the feed records it.
async fn edit(store: &Store, id: i64, kind: PostKind, parent: Option<i64>) {
    let mut edited = post(id, kind, parent, 1_700_000_000_000 + id);
    edited.body_text = format!("edited body of {id}");
    edited.body_html = format!("<p>edited body of {id}</p>");
    store
        .write(&WriteBatch {
            posts: vec![edited],
            ..WriteBatch::default()
        })
        .await
        .expect("edit written");
}

#[tokio::test]
async fn the_nearest_thread_roots_are_found_and_answers_are_not() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut community = seed(&store).await;
        let job = JobHandle::new();
        let index = VectorIndex::build(&store, MODEL, &job)
            .await
            .expect("built");
        assert_eq!(index.len(), 65, "60 questions and 5 articles");
        assert_eq!(index.dims(), DIMS);
        assert_eq!(index.model(), MODEL);
        assert_eq!(index.kind(), VectorIndexKind::Exact);
        assert_eq!(
            index.position(),
            store.latest_change_seq().await.expect("head")
        );
        assert_eq!(job.progress().done, 65);

        // A query close to question 17 finds it first, then its topic's questions.
        let query = near(&community.vectors[&PostId(17)], 0.1, &mut community.rng);
        let hits = index.search(&query, 10, None).expect("searched");
        assert_eq!(hits.len(), 10);
        assert_eq!(hits[0].post_id, PostId(17), "{hits:?}");
        assert!(hits[0].similarity > 0.9, "{hits:?}");
        for pair in hits.windows(2) {
            assert!(pair[0].similarity >= pair[1].similarity, "{hits:?}");
        }
        // 17 % 8 == 1: the other questions of topic 1 come next.
        for hit in &hits[1..7] {
            assert_eq!(hit.post_id.0 % TOPICS as i64, 1, "{hits:?}");
        }
        // Answer 217 and the comment are nearer to the query than question 17's
        // topic mates, yet no answer or comment is ever a hit.
        let everything = index.search(&query, 1_000, None).expect("searched");
        assert_eq!(everything.len(), 65);
        assert!(everything.iter().all(|hit| is_root(hit.post_id)));

        // A filter keeps only what it allows, best first.
        let even = |post_id: PostId| post_id.0 % 2 == 0;
        let filtered = index.search(&query, 5, Some(&even)).expect("searched");
        assert_eq!(filtered.len(), 5);
        assert!(filtered.iter().all(|hit| hit.post_id.0 % 2 == 0));
        let expected: Vec<i64> = ids(&everything)
            .into_iter()
            .filter(|id| id % 2 == 0)
            .take(5)
            .collect();
        assert_eq!(ids(&filtered), expected);

        // A query from another model is refused; an empty one finds nothing.
        match index.search(&query[..100], 10, None) {
            Err(Error::QueryDimensions {
                expected, found, ..
            }) => assert_eq!((expected, found), (DIMS, 100)),
            other => panic!("expected a dimension error, got {other:?}"),
        }
        assert!(
            index
                .search(&vec![0.0; DIMS], 10, None)
                .expect("searched")
                .is_empty()
        );

        // Another model's index holds nothing.
        let other = VectorIndex::build(&store, "another-model", &job)
            .await
            .expect("built");
        assert!(other.is_empty());
        assert!(other.search(&query, 10, None).expect("searched").is_empty());
    })
    .await;
}

#[tokio::test]
async fn edits_and_deletions_reach_the_index_through_catch_up() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut community = seed(&store).await;
        let job = JobHandle::new();
        let mut index = VectorIndex::build(&store, MODEL, &job)
            .await
            .expect("built");
        let old_17 = community.vectors[&PostId(17)].clone();
        let vector_23 = community.vectors[&PostId(23)].clone();
        assert_eq!(
            index.search(&old_17, 1, None).expect("searched")[0].post_id,
            PostId(17)
        );

        // Question 17 is rewritten about something else and embedded again;
        // question 23 is deleted; question 61 arrives; an answer is edited.
        let new_17 = random_vector(&mut community.rng);
        edit(&store, 17, PostKind::Question, None).await;
        store
            .put_embeddings(&[embedding(PostId(17), &new_17)])
            .await
            .expect("re-embedded");
        assert_eq!(store.delete_posts(&[PostId(23)]).await.expect("deleted"), 1);
        let vector_61 = random_vector(&mut community.rng);
        store
            .write(&WriteBatch {
                posts: vec![post(61, PostKind::Question, None, 1_700_000_000_061)],
                ..WriteBatch::default()
            })
            .await
            .expect("written");
        store
            .put_embeddings(&[embedding(PostId(61), &vector_61)])
            .await
            .expect("embedded");
        edit(&store, FIRST_ANSWER, PostKind::Answer, Some(1)).await;

        // Nothing changes until the index follows the feed.
        assert_eq!(
            index.search(&vector_23, 1, None).expect("searched")[0].post_id,
            PostId(23)
        );

        let report = index.catch_up(&store, &job).await.expect("caught up");
        let head = store.latest_change_seq().await.expect("head");
        assert_eq!(
            report,
            IndexReport {
                mode: "changes",
                indexed: 2,
                deleted: 1,
                position: head,
            }
        );
        assert_eq!(index.len(), 65);
        assert_eq!(index.position(), head);
        let top = |query: &[f32]| ids(&index.search(query, 3, None).expect("searched"));
        assert_eq!(top(&new_17)[0], 17);
        assert!(!top(&old_17).contains(&17), "{:?}", top(&old_17));
        assert!(!top(&vector_23).contains(&23));
        assert_eq!(top(&vector_61)[0], 61);
        let everything = index.search(&new_17, 1_000, None).expect("searched");
        assert!(
            everything
                .iter()
                .all(|hit| is_root(hit.post_id) || hit.post_id.0 == 61)
        );

        // Caught up: a second run does nothing.
        let again = index.catch_up(&store, &job).await.expect("caught up");
        assert_eq!((again.indexed, again.deleted, again.position), (0, 0, head));
    })
    .await;
}

#[tokio::test]
async fn the_index_never_passes_the_embedder_that_writes_its_vectors() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut community = seed(&store).await;
        let consumer = format!("embed:{MODEL}");
        let head = store.latest_change_seq().await.expect("head");
        store
            .set_consumer_position(&consumer, head)
            .await
            .expect("position saved");
        let options = VectorOptions {
            producer: Some(consumer.clone()),
            ..VectorOptions::default()
        };
        let job = JobHandle::new();
        let mut index = VectorIndex::build_with(&store, MODEL, options, &job)
            .await
            .expect("built");
        assert_eq!(index.position(), head);

        // Question 17 is edited; the embedder has not run yet.
        edit(&store, 17, PostKind::Question, None).await;
        let report = index.catch_up(&store, &job).await.expect("caught up");
        assert_eq!(
            (report.indexed, report.position),
            (0, head),
            "waits for the embedder"
        );

        // The embedder stores the new vector and moves on: now the index follows.
        let new_17 = random_vector(&mut community.rng);
        store
            .put_embeddings(&[embedding(PostId(17), &new_17)])
            .await
            .expect("re-embedded");
        let embedded = store.latest_change_seq().await.expect("head");
        store
            .set_consumer_position(&consumer, embedded)
            .await
            .expect("position saved");
        let report = index.catch_up(&store, &job).await.expect("caught up");
        assert_eq!((report.indexed, report.position), (1, embedded));
        assert_eq!(
            index.search(&new_17, 1, None).expect("searched")[0].post_id,
            PostId(17)
        );
    })
    .await;
}

#[tokio::test]
async fn a_saved_index_loads_with_the_same_results() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut community = seed(&store).await;
        let job = JobHandle::new();
        assert!(
            VectorIndex::load(&store, MODEL)
                .await
                .expect("read")
                .is_none()
        );
        let queries: Vec<Vec<f32>> = (0..20).map(|_| random_vector(&mut community.rng)).collect();

        for (options, kind) in [
            (VectorOptions::default(), VectorIndexKind::Exact),
            (
                VectorOptions {
                    exact_below: 50,
                    ..VectorOptions::default()
                },
                VectorIndexKind::Hnsw,
            ),
        ] {
            let index = VectorIndex::build_with(&store, MODEL, options.clone(), &job)
                .await
                .expect("built");
            assert_eq!(index.kind(), kind);
            let saved = index.save(&store).await.expect("saved");
            assert_eq!(saved.name, vector_index_name(MODEL));
            assert!(saved.promoted);
            assert_eq!(saved.feed_seq, Some(index.position()));
            assert_eq!(saved.metadata["count"], 65);
            assert_eq!(saved.metadata["dims"], DIMS);
            assert_eq!(saved.metadata["kind"], kind.as_str());
            assert_eq!(saved.metadata["feed_seq"], index.position());

            let loaded = VectorIndex::load_with(&store, MODEL, options)
                .await
                .expect("read")
                .expect("saved before");
            assert_eq!(loaded.kind(), kind);
            assert_eq!(
                (loaded.len(), loaded.dims(), loaded.position()),
                (index.len(), index.dims(), index.position())
            );
            for query in &queries {
                assert_eq!(
                    loaded.search(query, 10, None).expect("searched"),
                    index.search(query, 10, None).expect("searched"),
                );
            }
        }
        let versions = store
            .artifact_versions(&vector_index_name(MODEL))
            .await
            .expect("listed");
        assert_eq!(versions.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn above_the_threshold_the_graph_answers_and_follows_changes() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut community = seed(&store).await;
        let job = JobHandle::new();
        let options = VectorOptions {
            exact_below: 40,
            ..VectorOptions::default()
        };
        let mut graph = VectorIndex::build_with(&store, MODEL, options, &job)
            .await
            .expect("built");
        let mut exact = VectorIndex::build(&store, MODEL, &job)
            .await
            .expect("built");
        assert_eq!(graph.kind(), VectorIndexKind::Hnsw);
        let queries: Vec<Vec<f32>> = (1..=QUESTIONS)
            .map(|id| near(&community.vectors[&PostId(id)], 0.3, &mut community.rng))
            .collect();
        assert!(graph.recall_at(&queries, 10).expect("measured") >= 0.95);
        assert_eq!(exact.recall_at(&queries, 10).expect("measured"), 1.0);
        let query_17 = near(&community.vectors[&PostId(17)], 0.1, &mut community.rng);
        assert_eq!(
            graph.search(&query_17, 1, None).expect("searched")[0].post_id,
            PostId(17)
        );

        // A few changes: kept beside the graph (not rebuilt), searched exactly.
        let new_17 = random_vector(&mut community.rng);
        edit(&store, 17, PostKind::Question, None).await;
        store
            .put_embeddings(&[embedding(PostId(17), &new_17)])
            .await
            .expect("re-embedded");
        store.delete_posts(&[PostId(18)]).await.expect("deleted");
        let report = graph.catch_up(&store, &job).await.expect("caught up");
        assert_eq!((report.indexed, report.deleted), (1, 1));
        exact.catch_up(&store, &job).await.expect("caught up");
        assert_eq!(graph.kind(), VectorIndexKind::Hnsw);
        assert_eq!(
            graph.search(&new_17, 1, None).expect("searched")[0].post_id,
            PostId(17)
        );
        let old_18 = &community.vectors[&PostId(18)];
        assert!(
            !ids(&graph.search(old_18, 64, None).expect("searched")).contains(&18),
            "a deleted post is never a hit"
        );
        let old_17_hits = ids(&graph.search(&query_17, 5, None).expect("searched"));
        assert!(!old_17_hits.contains(&17), "{old_17_hits:?}");

        // The graph and the exact scan agree on what they return.
        for query in queries.iter().take(20) {
            let approximate = graph.search(query, 10, None).expect("searched");
            let truth = exact.search(query, 10, None).expect("searched");
            assert_eq!(approximate[0], truth[0]);
        }
        // A filter the graph's candidates cannot satisfy falls back to a scan.
        let only_articles = |post_id: PostId| ARTICLES.contains(&post_id.0);
        let filtered = graph
            .search(&query_17, 10, Some(&only_articles))
            .expect("searched");
        assert_eq!(ids(&filtered).len(), 5);
        assert_eq!(
            filtered,
            exact
                .search(&query_17, 10, Some(&only_articles))
                .expect("searched")
        );
        // Deleting below the threshold turns it into an exact index.
        let many: Vec<PostId> = (1..=30).map(PostId).collect();
        store.delete_posts(&many).await.expect("deleted");
        graph.catch_up(&store, &job).await.expect("caught up");
        assert_eq!(graph.kind(), VectorIndexKind::Exact);
        assert_eq!(graph.len(), 64 - 30 + 1);
    })
    .await;
}

/// Random vectors shaped like sentence embeddings: a random point of a
/// 32-dimensional space (the few directions texts really vary along) mapped
/// into 384 dimensions, plus noise in every dimension. Uniformly random
/// 384-dimensional vectors have no near neighbours to find: every point is
/// almost equally far from every other, and no graph index reaches useful
/// recall on them (0.56 at these settings), so they would not measure anything
/// a community's embeddings show.
struct EmbeddingLike {
    projection: Vec<Vec<f32>>,
    rng: ChaCha8Rng,
}

impl EmbeddingLike {
    fn new(seed: u64) -> EmbeddingLike {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let projection = (0..32).map(|_| random_vector(&mut rng)).collect();
        EmbeddingLike { projection, rng }
    }

    fn sample(&mut self) -> Vec<f32> {
        let mut vector: Vec<f32> = random_vector(&mut self.rng)
            .into_iter()
            .map(|value| 0.15 * value)
            .collect();
        for direction in &self.projection {
            let weight: f32 = self.rng.random_range(-1.0f32..1.0);
            for (value, d) in vector.iter_mut().zip(direction) {
                *value += weight * d;
            }
        }
        unit(vector)
    }
}

#[tokio::test]
async fn hnsw_recall_at_10_on_20k_random_embedding_like_vectors() {
    let db = TestDb::sqlite();
    let store = db.open().await;
    let count = 20_000i64;
    let mut vectors = EmbeddingLike::new(20_000);
    let started = Instant::now();
    for first in (1..=count).step_by(5_000) {
        let ids = first..(first + 5_000).min(count + 1);
        let posts: Vec<Post> = ids
            .clone()
            .map(|id| post(id, PostKind::Question, None, 1_700_000_000_000 + id))
            .collect();
        store
            .write(&WriteBatch {
                users: vec![user(1)],
                posts,
                ..WriteBatch::default()
            })
            .await
            .expect("written");
        let rows: Vec<StoredEmbedding> = ids
            .map(|id| embedding(PostId(id), &vectors.sample()))
            .collect();
        store.put_embeddings(&rows).await.expect("embedded");
    }
    let written = started.elapsed();
    let started = Instant::now();
    let index = VectorIndex::build(&store, MODEL, &JobHandle::new())
        .await
        .expect("built");
    let built = started.elapsed();
    assert_eq!(index.kind(), VectorIndexKind::Hnsw);
    assert_eq!(index.len(), count as usize);
    let queries: Vec<Vec<f32>> = (0..100).map(|_| vectors.sample()).collect();
    let started = Instant::now();
    for query in &queries {
        assert_eq!(index.search(query, 10, None).expect("searched").len(), 10);
    }
    let per_query = started.elapsed() / queries.len() as u32;
    let recall = index.recall_at(&queries, 10).expect("measured");
    eprintln!(
        "20k x 384: stored in {written:?}, built in {built:?}, {per_query:?} per query, \
         recall@10 {recall:.4}"
    );
    assert!(recall >= 0.95, "recall@10 {recall}");
}
