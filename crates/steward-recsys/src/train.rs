//! Training on a community: a time-based hold-out (the latest acts) scores
//! every model and a small hyper-parameter search, the best on validation
//! becomes the default, every model is fitted again on everything with the
//! chosen parameters, and the lot becomes a [`Bundle`]. The same hold-out,
//! wider, is `steward eval recsys --data`.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use steward_domain::{PostId, Timestamp};

use crate::als::{Als, AlsParams};
use crate::bpr::{Bpr, BprParams};
use crate::bundle::{Bundle, BundleInfo};
use crate::content::Content;
use crate::dataset::{
    ActKind, Catalogue, Community, Dataset, DatasetOptions, InteractionWeights, act_weight,
};
use crate::ease::{Ease, EaseParams};
use crate::error::{Error, Result};
use crate::experts::{ExpertIndex, RoutingOptions, RoutingReport, ThreadVectors, evaluate_routing};
use crate::hybrid::Hybrid;
use crate::knn::{ItemKnn, KnnParams};
use crate::matrix::Interactions;
use crate::metrics::{RankingMetrics, evaluate};
use crate::model::{Model, ModelKind};
use crate::popularity::Popularity;

/// Simplex steps of the hybrid's weight grid (weights in fifths).
const HYBRID_STEPS: usize = 5;

/// What a training run fits and how.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub weights: InteractionWeights,
    pub als: AlsParams,
    pub bpr: BprParams,
    pub knn: KnnParams,
    /// Try a few ALS settings around `als` on validation and keep the best.
    pub search: bool,
    /// Share of the latest positive acts held out to choose models, 0 to 0.5.
    pub validation_share: f64,
    pub routing: RoutingOptions,
}

/// Thread embeddings for the content model, and the model that made them.
#[derive(Debug, Clone)]
pub struct ItemVectors {
    pub model: String,
    pub vectors: ThreadVectors,
}

/// A time split of a community: the matrix before `split`, and what the
/// same members did to the same threads at or after it.
#[derive(Debug, Clone)]
pub struct Holdout {
    pub split: Timestamp,
    pub train: Dataset,
    /// Binary relevance, in `train`'s index space.
    pub test: Interactions,
    /// Held-out pairs on threads created after the split (cold items: no
    /// model that learns from interactions can rank them; content can).
    pub acts_on_new_threads: usize,
    /// Held-out acts by members who had done nothing before the split.
    pub acts_by_new_members: usize,
}

/// The time before which `1 - share` of the positive acts happened.
pub fn split_time(
    community: &Community,
    weights: &InteractionWeights,
    share: f64,
) -> Option<Timestamp> {
    let times: Vec<Timestamp> = community
        .acts
        .iter()
        .filter(|act| act_weight(weights, act).is_some())
        .map(|act| act.at)
        .collect();
    if times.len() < 2 {
        return None;
    }
    let position = ((times.len() as f64) * (1.0 - share.clamp(0.0, 0.5))).floor() as usize;
    times.get(position.min(times.len() - 1)).copied()
}

impl Holdout {
    pub fn new(community: &Community, weights: &InteractionWeights, split: Timestamp) -> Holdout {
        let train = Dataset::build(
            community,
            &DatasetOptions {
                weights: weights.clone(),
                now: split,
                until: Some(split),
                catalogue: Catalogue::All,
            },
        );
        let mut pairs = Vec::new();
        let mut seen = HashSet::new();
        let (mut new_threads, mut new_members) = (0, 0);
        for act in community.acts.iter().filter(|act| act.at >= split) {
            // Nobody is recommended the question they are about to ask.
            if act.kind == ActKind::Ask || act_weight(weights, act).is_none() {
                continue;
            }
            let Some(item) = train.items.get(act.thread) else {
                continue;
            };
            let Some(user) = train.users.get(act.user) else {
                new_members += 1;
                continue;
            };
            if train.interactions.user(user).get(item).is_some()
                || train.negatives[user as usize].binary_search(&item).is_ok()
                || !seen.insert((user, item))
            {
                continue;
            }
            if community
                .thread(act.thread)
                .is_some_and(|thread| thread.created_at >= split)
            {
                new_threads += 1;
            }
            pairs.push((user, item, 1.0));
        }
        let test = Interactions::from_triplets(train.users.len(), train.items.len(), pairs);
        Holdout {
            split,
            train,
            test,
            acts_on_new_threads: new_threads,
            acts_by_new_members: new_members,
        }
    }
}

/// Item vectors aligned to `items` (zero rows where a thread has none), and
/// their dimension; `None` when no thread has one.
pub fn aligned_vectors(
    items: &crate::dataset::IdMap<PostId>,
    vectors: &ThreadVectors,
) -> Option<(Vec<f32>, usize)> {
    let dim = vectors.values().next()?.len();
    let mut aligned = vec![0.0; items.len() * dim];
    let mut any = false;
    for (position, id) in items.ids().iter().enumerate() {
        if let Some(vector) = vectors.get(id).filter(|vector| vector.len() == dim) {
            aligned[position * dim..(position + 1) * dim].copy_from_slice(vector);
            any = true;
        }
    }
    any.then_some((aligned, dim))
}

/// The models fitted on one matrix with one set of parameters.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub models: Vec<Model>,
    pub als: AlsParams,
    /// The hybrid's parts and weights.
    pub hybrid: Vec<(ModelKind, f32)>,
}

/// Scores of the models fitted on a hold-out's training side.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub metrics: BTreeMap<String, RankingMetrics>,
    pub best: ModelKind,
    #[serde(skip)]
    pub fitted: Fitted,
    /// Every ALS setting tried and its nDCG@10.
    pub als_search: Vec<(AlsParams, f64)>,
}

/// Fits every model on `holdout.train` (a few ALS settings when asked),
/// scores them on `holdout.test`, and tunes the hybrid.
pub fn validate(
    holdout: &Holdout,
    vectors: Option<&ThreadVectors>,
    options: &TrainOptions,
    keep_going: &mut dyn FnMut(&str) -> bool,
) -> Result<Validation> {
    let train = &holdout.train.interactions;
    if train.nnz() == 0 {
        return Err(Error::Empty(
            "no interactions before the validation split: import a community (or send events) first".into(),
        ));
    }
    let score = |model: &Model| evaluate(model, train, &holdout.test, None);
    let mut metrics = BTreeMap::new();
    let mut als_search = Vec::new();
    let mut best_als: Option<(Model, AlsParams, f64)> = None;
    for params in als_candidates(&options.als, options.search) {
        if !keep_going(&format!(
            "ALS, {} factors, λ {}, α {}",
            params.factors, params.regularization, params.alpha
        )) {
            return Err(Error::Cancelled);
        }
        let model = Model::Als(Als::fit(train, &params, &mut |_| true)?);
        let ndcg = score(&model).ndcg_at_10;
        als_search.push((params.clone(), ndcg));
        if best_als.as_ref().is_none_or(|(_, _, best)| ndcg > *best) {
            best_als = Some((model, params, ndcg));
        }
    }
    let (als, als_params, _) = best_als.expect("at least one ALS setting is tried");
    let fitted = fit_models(
        &holdout.train,
        vectors,
        options,
        Some(als),
        &als_params,
        None,
        keep_going,
    )?;
    let hybrid_parts: Vec<Model> = fitted
        .models
        .iter()
        .filter(|model| {
            matches!(
                model.kind(),
                ModelKind::Als
                    | ModelKind::ItemKnn
                    | ModelKind::Content
                    | ModelKind::Ease
                    | ModelKind::Popularity
            )
        })
        .cloned()
        .collect();
    if !keep_going("tuning the hybrid") {
        return Err(Error::Cancelled);
    }
    let hybrid = Hybrid::tune(hybrid_parts, train, &holdout.test, HYBRID_STEPS)?;
    let hybrid_weights = hybrid.weights();
    let mut models = fitted.models;
    models.push(Model::Hybrid(hybrid));
    for model in &models {
        metrics.insert(model.kind().as_str().to_string(), score(model));
    }
    let best = models
        .iter()
        .map(|model| model.kind())
        .max_by(|a, b| {
            let ndcg = |kind: &ModelKind| metrics[kind.as_str()].ndcg_at_10;
            ndcg(a).total_cmp(&ndcg(b)).then(b.cmp(a))
        })
        .expect("popularity is always fitted");
    Ok(Validation {
        metrics,
        best,
        fitted: Fitted {
            models,
            als: als_params,
            hybrid: hybrid_weights,
        },
        als_search,
    })
}

/// The ALS settings tried: the configured one, and with `search` its
/// neighbours along each axis.
fn als_candidates(base: &AlsParams, search: bool) -> Vec<AlsParams> {
    let mut list = vec![base.clone()];
    if search {
        let with = |change: &dyn Fn(&mut AlsParams)| {
            let mut params = base.clone();
            change(&mut params);
            params
        };
        list.push(with(&|params| params.regularization *= 10.0));
        list.push(with(&|params| params.regularization /= 10.0));
        list.push(with(&|params| params.alpha *= 4.0));
        list.push(with(&|params| params.alpha /= 4.0));
        list.push(with(&|params| params.factors = (params.factors / 2).max(8)));
    }
    list
}

/// Every model on `dataset`: popularity, item-kNN, ALS (`als` when already
/// fitted on this matrix), BPR, content (with vectors), EASE (small
/// catalogues), and the hybrid when `hybrid` weights are given.
fn fit_models(
    dataset: &Dataset,
    vectors: Option<&ThreadVectors>,
    options: &TrainOptions,
    als: Option<Model>,
    als_params: &AlsParams,
    hybrid: Option<&[(ModelKind, f32)]>,
    keep_going: &mut dyn FnMut(&str) -> bool,
) -> Result<Fitted> {
    let matrix = &dataset.interactions;
    let mut step = |what: &str| {
        if keep_going(what) {
            Ok(())
        } else {
            Err(Error::Cancelled)
        }
    };
    let mut models = vec![Model::Popularity(Popularity::fit(matrix))];
    step("item-kNN")?;
    models.push(Model::ItemKnn(ItemKnn::fit(matrix, &options.knn)?));
    step("ALS")?;
    models.push(match als {
        Some(model) => model,
        None => Model::Als(Als::fit(matrix, als_params, &mut |_| true)?),
    });
    step("BPR")?;
    models.push(Model::Bpr(Bpr::fit(matrix, &options.bpr, &mut |_| true)?));
    if let Some((aligned, dim)) =
        vectors.and_then(|vectors| aligned_vectors(&dataset.items, vectors))
    {
        models.push(Model::Content(Content::new(aligned, dim)?));
    }
    step("EASE")?;
    // EASE is a dense item × item solve: only small catalogues get it.
    if let Ok(ease) = Ease::fit(matrix, &EaseParams::default()) {
        models.push(Model::Ease(ease));
    }
    let mut hybrid_weights = Vec::new();
    if let Some(weights) = hybrid {
        let parts: Vec<(Model, f32)> = weights
            .iter()
            .filter_map(|(kind, weight)| {
                models
                    .iter()
                    .find(|model| model.kind() == *kind)
                    .map(|model| (model.clone(), *weight))
            })
            .collect();
        if !parts.is_empty() {
            hybrid_weights = weights.to_vec();
            models.push(Model::Hybrid(Hybrid::new(parts)?));
        }
    }
    Ok(Fitted {
        models,
        als: als_params.clone(),
        hybrid: hybrid_weights,
    })
}

/// Trains a bundle on the whole community: models chosen and scored on the
/// latest `validation_share` of acts, then fitted again on everything.
pub fn train(
    community: &Community,
    vectors: Option<&ItemVectors>,
    options: &TrainOptions,
    now: Timestamp,
    keep_going: &mut dyn FnMut(&str) -> bool,
) -> Result<(Bundle, Validation)> {
    let thread_vectors = vectors.map(|vectors| &vectors.vectors);
    let split =
        split_time(community, &options.weights, options.validation_share).ok_or_else(|| {
            Error::Empty("fewer than two interactions: nothing to learn from yet".into())
        })?;
    let holdout = Holdout::new(community, &options.weights, split);
    let validation = validate(&holdout, thread_vectors, options, keep_going)?;
    let dataset = Dataset::build(
        community,
        &DatasetOptions {
            weights: options.weights.clone(),
            now,
            until: None,
            catalogue: Catalogue::All,
        },
    );
    let fitted = fit_models(
        &dataset,
        thread_vectors,
        options,
        None,
        &validation.fitted.als,
        Some(&validation.fitted.hybrid),
        keep_going,
    )?;
    if !keep_going("expert routing") {
        return Err(Error::Cancelled);
    }
    let experts = ExpertIndex::build(community, thread_vectors, None, &options.routing);
    let item_tags = dataset
        .items
        .ids()
        .iter()
        .map(|id| {
            community
                .thread(*id)
                .map(|thread| thread.tags.clone())
                .unwrap_or_default()
        })
        .collect();
    let mut params = BTreeMap::new();
    let json = "model parameters serialize";
    params.insert(
        "als".to_string(),
        serde_json::to_value(&validation.fitted.als).expect(json),
    );
    params.insert(
        "bpr".to_string(),
        serde_json::to_value(&options.bpr).expect(json),
    );
    params.insert(
        "item_knn".to_string(),
        serde_json::to_value(&options.knn).expect(json),
    );
    params.insert(
        "hybrid".to_string(),
        serde_json::json!(
            validation
                .fitted
                .hybrid
                .iter()
                .map(|(kind, weight)| (kind.as_str(), *weight))
                .collect::<BTreeMap<_, _>>()
        ),
    );
    let info = BundleInfo {
        feed_seq: community.feed_seq,
        last_event_id: community.last_event_id,
        trained_at: now,
        weights: options.weights.clone(),
        default_model: validation.best,
        validation: validation.metrics.clone(),
        params,
        embedding_model: vectors.map(|vectors| vectors.model.clone()),
        users: dataset.users.len(),
        items: dataset.items.len(),
        interactions: dataset.interactions.nnz(),
    };
    Ok((
        Bundle::new(info, dataset, item_tags, fitted.models, experts),
        validation,
    ))
}

/// `steward eval recsys --data`: every model on a time split of the
/// community (the latest `test_share` of acts held out), and expert routing
/// on the questions asked after the same share of questions.
#[derive(Debug, Clone, Serialize)]
pub struct CommunityReport {
    pub split: Timestamp,
    pub users: usize,
    pub items: usize,
    pub train_interactions: usize,
    pub test_interactions: usize,
    pub acts_on_new_threads: usize,
    pub acts_by_new_members: usize,
    /// One entry per model: `popularity`, `item_knn`, `als`, `bpr`, `content`, `hybrid`, `ease`.
    pub models: BTreeMap<String, RankingMetrics>,
    pub best: ModelKind,
    pub expert_routing: RoutingReport,
}

pub fn evaluate_community(
    community: &Community,
    vectors: Option<&ThreadVectors>,
    options: &TrainOptions,
    test_share: f64,
    keep_going: &mut dyn FnMut(&str) -> bool,
) -> Result<CommunityReport> {
    let split = split_time(community, &options.weights, test_share)
        .ok_or_else(|| Error::Empty("fewer than two interactions: nothing to evaluate".into()))?;
    let holdout = Holdout::new(community, &options.weights, split);
    let validation = validate(&holdout, vectors, options, keep_going)?;
    let mut question_times: Vec<Timestamp> = community
        .threads
        .iter()
        .map(|thread| thread.created_at)
        .collect();
    question_times.sort();
    let question_split = question_times
        .get(((question_times.len() as f64) * (1.0 - test_share)).floor() as usize)
        .copied()
        .unwrap_or(split);
    let expert_routing = evaluate_routing(community, vectors, question_split, &options.routing);
    Ok(CommunityReport {
        split,
        users: holdout.train.users.len(),
        items: holdout.train.items.len(),
        train_interactions: holdout.train.interactions.nnz(),
        test_interactions: holdout.test.nnz(),
        acts_on_new_threads: holdout.acts_on_new_threads,
        acts_by_new_members: holdout.acts_by_new_members,
        models: validation.metrics,
        best: validation.best,
        expert_routing,
    })
}
