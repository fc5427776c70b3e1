//! Invariants every model keeps, on random small matrices: history and
//! excluded (negatively rated) items never come back, scores are finite and
//! ordered, the same seed gives the same model (threads = 1), and a model
//! survives its binary form unchanged.

use proptest::prelude::*;
use steward_recsys::als::{Als, AlsParams};
use steward_recsys::bpr::{Bpr, BprParams};
use steward_recsys::content::Content;
use steward_recsys::ease::{Ease, EaseParams};
use steward_recsys::hybrid::Hybrid;
use steward_recsys::knn::{ItemKnn, KnnParams, Similarity};
use steward_recsys::matrix::{Interactions, Row};
use steward_recsys::model::Model;
use steward_recsys::popularity::Popularity;

#[derive(Debug, Clone)]
struct Case {
    n_users: usize,
    n_items: usize,
    triplets: Vec<(u32, u32, f32)>,
    seed: u64,
    user: u32,
    exclude: Vec<u32>,
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..8, 3usize..16, any::<u64>()).prop_flat_map(|(n_users, n_items, seed)| {
        let triplet = (0..n_users as u32, 0..n_items as u32, 0.1f32..5.0);
        (
            proptest::collection::vec(triplet, 1..60),
            0..n_users as u32,
            proptest::collection::vec(0..n_items as u32, 0..4),
        )
            .prop_map(move |(triplets, user, mut exclude)| {
                exclude.sort_unstable();
                exclude.dedup();
                Case {
                    n_users,
                    n_items,
                    triplets,
                    seed,
                    user,
                    exclude,
                }
            })
    })
}

/// Every kind of model, trained on `matrix` with small settings.
fn every_model(matrix: &Interactions, seed: u64) -> Vec<Model> {
    let als = AlsParams {
        factors: 3,
        iterations: 3,
        seed,
        ..AlsParams::default()
    };
    let bpr = BprParams {
        factors: 3,
        epochs: 3,
        seed,
        threads: 1,
        ..BprParams::default()
    };
    let n_items = matrix.n_items();
    // Every third item has no content vector.
    let vectors: Vec<f32> = (0..n_items * 2)
        .map(|index| {
            let item = index / 2;
            if item % 3 == 2 {
                0.0
            } else {
                ((index * 7 + seed as usize) % 5) as f32
            }
        })
        .collect();
    let mut models = vec![
        Model::Popularity(Popularity::fit(matrix)),
        Model::ItemKnn(ItemKnn::fit(matrix, &KnnParams::default()).expect("fits")),
        Model::ItemKnn(
            ItemKnn::fit(
                matrix,
                &KnnParams {
                    neighbours: 2,
                    similarity: Similarity::Bm25 { k1: 1.2, b: 0.75 },
                    shrink: 0.0,
                },
            )
            .expect("fits"),
        ),
        Model::Als(Als::fit(matrix, &als, &mut |_| true).expect("fits")),
        Model::Bpr(Bpr::fit(matrix, &bpr, &mut |_| true).expect("fits")),
        Model::Content(Content::new(vectors, 2).expect("valid")),
        Model::Ease(
            Ease::fit(
                matrix,
                &EaseParams {
                    regularization: 1.0,
                },
            )
            .expect("fits"),
        ),
    ];
    let parts = models.iter().cloned().map(|model| (model, 0.5)).collect();
    models.push(Model::Hybrid(Hybrid::new(parts).expect("one catalogue")));
    models
}

/// Training with one rayon thread, so the result depends only on the seed.
fn single_threaded<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool")
        .install(work)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn history_and_excluded_items_never_come_back_and_scores_are_finite(case in case()) {
        let matrix = Interactions::from_triplets(case.n_users, case.n_items, case.triplets.clone());
        prop_assume!(matrix.nnz() > 0 && case.n_items >= 2);
        let history = matrix.user(case.user);
        for model in single_threaded(|| every_model(&matrix, case.seed)) {
            for user in [Some(case.user), None] {
                let recommended = model.recommend(user, history, case.n_items, &case.exclude);
                prop_assert!(recommended.len() <= case.n_items);
                for (rank, scored) in recommended.iter().enumerate() {
                    prop_assert!(scored.score.is_finite(), "{:?}: {scored:?}", model.kind());
                    prop_assert!(history.get(scored.item).is_none(), "{:?} recommended history item {}", model.kind(), scored.item);
                    prop_assert!(case.exclude.binary_search(&scored.item).is_err(), "{:?} recommended excluded item {}", model.kind(), scored.item);
                    if rank > 0 {
                        prop_assert!(recommended[rank - 1].score >= scored.score);
                        prop_assert!(recommended[rank - 1].item != scored.item);
                    }
                }
                for item in 0..case.n_items as u32 {
                    for share in model.explain(user, history, item, 3) {
                        prop_assert!(share.score.is_finite());
                        prop_assert!(history.get(share.item).is_some(), "explained by a non-history item");
                    }
                }
            }
            for scored in model.similar_items(0, 5) {
                prop_assert!(scored.score.is_finite() && scored.item != 0);
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_models_with_one_thread(case in case()) {
        let matrix = Interactions::from_triplets(case.n_users, case.n_items, case.triplets.clone());
        prop_assume!(matrix.nnz() > 0 && case.n_items >= 2);
        let first = single_threaded(|| every_model(&matrix, case.seed));
        let second = single_threaded(|| every_model(&matrix, case.seed));
        let history = matrix.user(case.user);
        for (a, b) in first.iter().zip(&second) {
            prop_assert_eq!(a.to_bytes(), b.to_bytes());
            prop_assert_eq!(
                a.recommend(Some(case.user), history, 5, &case.exclude),
                b.recommend(Some(case.user), history, 5, &case.exclude)
            );
        }
    }

    #[test]
    fn models_survive_their_binary_form(case in case()) {
        let matrix = Interactions::from_triplets(case.n_users, case.n_items, case.triplets.clone());
        prop_assume!(matrix.nnz() > 0 && case.n_items >= 2);
        let history = matrix.user(case.user);
        for model in single_threaded(|| every_model(&matrix, case.seed)) {
            let loaded = Model::from_bytes(&model.to_bytes()).expect("reads back");
            prop_assert_eq!(&loaded, &model);
            prop_assert_eq!(
                loaded.recommend(None, history, 5, &[]),
                model.recommend(None, history, 5, &[])
            );
        }
    }
}

#[test]
fn a_new_favourite_changes_that_users_next_recommendations() {
    // Two taste groups; user 0 is in the first and then favourites an item
    // of the second: ALS folds the new history in on the next call.
    let mut triplets = Vec::new();
    for user in 0..20u32 {
        let base = if user < 10 { 0 } else { 6 };
        for item in base..base + 6 {
            if (user + item) % 5 != 0 {
                triplets.push((user, item, 1.0));
            }
        }
    }
    let matrix = Interactions::from_triplets(20, 12, triplets);
    let params = AlsParams {
        factors: 4,
        regularization: 0.1,
        alpha: 5.0,
        iterations: 10,
        cg_steps: 3,
        seed: 1,
    };
    let model =
        Model::Als(single_threaded(|| Als::fit(&matrix, &params, &mut |_| true)).expect("fits"));
    let history = matrix.user(0);
    let before = model.recommend(Some(0), history, 3, &[]);
    let mut items = history.indices.to_vec();
    let mut weights = history.weights.to_vec();
    items.extend([6, 7]);
    weights.extend([3.0, 3.0]);
    let after = model.recommend(Some(0), Row::new(&items, &weights), 3, &[]);
    assert_ne!(before, after);
    assert!(
        after.iter().any(|scored| (8..12).contains(&scored.item)),
        "the second group's items rise: {after:?}"
    );
}

#[test]
fn unreadable_model_bytes_are_an_error() {
    assert!(Model::from_bytes(b"").is_err());
    assert!(Model::from_bytes(b"STRM\x01\0\0\0\x02\0\0\0{}").is_err());
}
