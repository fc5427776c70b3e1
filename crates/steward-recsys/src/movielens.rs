//! The MovieLens-100k protocol behind `steward eval recsys --movielens DIR`:
//! ratings ≥ 4 are positives, a seeded per-user 80/20 split, full ranking
//! with training items excluded. Every model's hyper-parameters are chosen on
//! a validation split carved out of the training part, never on the test part;
//! the chosen models are then refitted on the whole training part.
//!
//! Reads GroupLens's `u.data` / `u.item` or RecBole's `ml-100k.inter` /
//! `ml-100k.item` (what `bench/fetch-movielens.sh` unpacks).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::als::{Als, AlsParams};
use crate::bpr::{Bpr, BprParams};
use crate::content::Content;
use crate::ease::{Ease, EaseParams};
use crate::hybrid::Hybrid;
use crate::knn::{ItemKnn, KnnParams, Similarity};
use crate::matrix::Interactions;
use crate::metrics::{RankingMetrics, evaluate};
use crate::model::{Model, ModelKind};
use crate::popularity::Popularity;
use crate::split::random_split;
use crate::{Error, Result};

/// Ratings at or above this are positives.
pub const POSITIVE_RATING: f32 = 4.0;

/// Ratings and item features of a MovieLens folder, ids mapped to dense
/// indices in numeric id order (so `u.data` and `ml-100k.inter` agree).
#[derive(Debug, Clone)]
pub struct MovieLens {
    pub user_ids: Vec<String>,
    pub item_ids: Vec<String>,
    /// (user, item, rating).
    pub ratings: Vec<(u32, u32, f32)>,
    /// Row-major `n_items × feature_dim` genre and decade indicators; all
    /// zero for an item the item file does not describe.
    pub item_features: Vec<f32>,
    pub feature_dim: usize,
}

impl MovieLens {
    pub fn n_users(&self) -> usize {
        self.user_ids.len()
    }

    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }

    /// Ratings ≥ 4 as weight-1 interactions over every rated item.
    pub fn positives(&self) -> Interactions {
        Interactions::from_triplets(
            self.n_users(),
            self.n_items(),
            self.ratings
                .iter()
                .filter(|(_, _, rating)| *rating >= POSITIVE_RATING)
                .map(|&(user, item, _)| (user, item, 1.0)),
        )
    }
}

/// Loads `DIR/u.data` (+ `u.item`) or `DIR/ml-100k.inter` (+ `ml-100k.item`).
pub fn load(dir: &Path) -> Result<MovieLens> {
    let grouplens = dir.join("u.data");
    let recbole = dir.join("ml-100k.inter");
    let (ratings_path, items_path, header) = if grouplens.is_file() {
        (grouplens, dir.join("u.item"), false)
    } else if recbole.is_file() {
        (recbole, dir.join("ml-100k.item"), true)
    } else {
        return Err(Error::Data {
            path: dir.display().to_string(),
            message: "no u.data or ml-100k.inter here (fetch it with bench/fetch-movielens.sh DIR)"
                .into(),
        });
    };
    let text = read_text(&ratings_path)?;
    let mut raw = Vec::new();
    for (number, line) in text.lines().enumerate().skip(usize::from(header)) {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = || Error::Data {
            path: format!("{}:{}", ratings_path.display(), number + 1),
            message: format!("expected user, item, rating, timestamp: {line:?}"),
        };
        if fields.len() < 3 {
            return Err(bad());
        }
        let rating: f32 = fields[2].trim().parse().map_err(|_| bad())?;
        raw.push((
            fields[0].trim().to_owned(),
            fields[1].trim().to_owned(),
            rating,
        ));
    }
    let user_ids = sorted_ids(raw.iter().map(|(user, _, _)| user.as_str()));
    let item_ids = sorted_ids(raw.iter().map(|(_, item, _)| item.as_str()));
    let user_index = index_of(&user_ids);
    let item_index = index_of(&item_ids);
    let ratings = raw
        .iter()
        .map(|(user, item, rating)| {
            (
                user_index[user.as_str()],
                item_index[item.as_str()],
                *rating,
            )
        })
        .collect();
    let (item_features, feature_dim) = if items_path.is_file() {
        item_features(&items_path, header, &item_index)?
    } else {
        (Vec::new(), 0)
    };
    Ok(MovieLens {
        user_ids,
        item_ids,
        ratings,
        item_features,
        feature_dim,
    })
}

/// `u.item` is Latin-1; read bytes and map each to its code point.
fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|error| Error::Data {
        path: path.display().to_string(),
        message: error.to_string(),
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => error
            .into_bytes()
            .iter()
            .map(|&byte| byte as char)
            .collect(),
    })
}

fn sorted_ids<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut ids: Vec<&str> = ids.collect();
    ids.sort_unstable_by(|a, b| (a.parse::<u64>().ok(), *a).cmp(&(b.parse::<u64>().ok(), *b)));
    ids.dedup();
    ids.into_iter().map(str::to_owned).collect()
}

fn index_of(ids: &[String]) -> BTreeMap<&str, u32> {
    ids.iter()
        .enumerate()
        .map(|(index, id)| (id.as_str(), index as u32))
        .collect()
}

/// GroupLens `u.item` genre columns, in file order.
const GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];
/// Decades 1920s..2000s, one indicator each, after the genres.
const FIRST_DECADE: i32 = 1920;
const DECADES: usize = 9;
/// A decade counts for less than a genre in the cosine.
const DECADE_WEIGHT: f32 = 0.5;

fn item_features(
    path: &Path,
    recbole: bool,
    item_index: &BTreeMap<&str, u32>,
) -> Result<(Vec<f32>, usize)> {
    let dim = GENRES.len() + DECADES;
    let mut features = vec![0f32; item_index.len() * dim];
    let text = read_text(path)?;
    for line in text.lines().skip(usize::from(recbole)) {
        let (id, genres, year): (&str, Vec<usize>, Option<i32>) = if recbole {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() < 4 {
                continue;
            }
            let genres = fields[3]
                .split_whitespace()
                .filter_map(|genre| GENRES.iter().position(|known| *known == genre))
                .collect();
            (fields[0], genres, fields[2].trim().parse().ok())
        } else {
            let fields: Vec<&str> = line.split('|').collect();
            if fields.len() < 5 + GENRES.len() {
                continue;
            }
            let genres = (0..GENRES.len())
                .filter(|&genre| fields[5 + genre].trim() == "1")
                .collect();
            let year = fields[2]
                .rsplit('-')
                .next()
                .and_then(|year| year.trim().parse().ok());
            (fields[0], genres, year)
        };
        let Some(&item) = item_index.get(id.trim()) else {
            continue;
        };
        let row = &mut features[item as usize * dim..(item as usize + 1) * dim];
        for genre in genres {
            row[genre] = 1.0;
        }
        if let Some(year) = year {
            let decade = ((year - FIRST_DECADE).max(0) / 10) as usize;
            row[GENRES.len() + decade.min(DECADES - 1)] = DECADE_WEIGHT;
        }
    }
    Ok((features, dim))
}

/// How `evaluate_movielens` splits, trains and tunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovielensOptions {
    /// Seeds the test split (the validation split uses `seed + 1`) and every model.
    pub seed: u64,
    /// Share of each user's positives held out for the test.
    pub test_share: f64,
    /// Share of each user's training positives held out to tune on.
    pub validation_share: f64,
    /// Search hyper-parameters on the validation split; `false` uses the
    /// defaults below (quick runs).
    pub tune: bool,
    pub als: AlsParams,
    pub bpr: BprParams,
    pub knn: KnnParams,
    pub ease: EaseParams,
    /// Train and report EASE (dense item × item; ML-100k has 1,682 items).
    pub with_ease: bool,
}

impl Default for MovielensOptions {
    fn default() -> Self {
        MovielensOptions {
            seed: 42,
            test_share: 0.2,
            validation_share: 0.2,
            tune: true,
            als: AlsParams::default(),
            bpr: BprParams::default(),
            knn: KnnParams::default(),
            ease: EaseParams::default(),
            with_ease: true,
        }
    }
}

/// One [`RankingMetrics`] per model, under the model names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MovielensReport {
    pub popularity: RankingMetrics,
    pub item_knn: RankingMetrics,
    pub als: RankingMetrics,
    pub bpr: RankingMetrics,
    pub content: RankingMetrics,
    pub hybrid: RankingMetrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ease: Option<RankingMetrics>,
    /// The hyper-parameters chosen on the validation split, per model.
    #[serde(skip)]
    pub chosen: BTreeMap<ModelKind, String>,
    /// Users, items, train and test positives.
    #[serde(skip)]
    pub dataset: DatasetSummary,
}

/// The size of what was evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DatasetSummary {
    pub users: usize,
    pub items: usize,
    pub train: usize,
    pub test: usize,
}

impl MovielensReport {
    /// `(kind, metrics)` in the report's order.
    pub fn models(&self) -> Vec<(ModelKind, &RankingMetrics)> {
        let mut models = vec![
            (ModelKind::Popularity, &self.popularity),
            (ModelKind::ItemKnn, &self.item_knn),
            (ModelKind::Als, &self.als),
            (ModelKind::Bpr, &self.bpr),
            (ModelKind::Content, &self.content),
        ];
        if let Some(ease) = &self.ease {
            models.push((ModelKind::Ease, ease));
        }
        models.push((ModelKind::Hybrid, &self.hybrid));
        models
    }

    /// A plain-text table, one row per model, then the chosen parameters.
    pub fn table(&self) -> String {
        let mut out = format!(
            "MovieLens: {} users, {} items, {} train / {} test positives\n",
            self.dataset.users, self.dataset.items, self.dataset.train, self.dataset.test
        );
        out.push_str(&format!(
            "{:<12} {:>7} {:>7} {:>7} {:>8} {:>7} {:>9}\n",
            "model", "P@10", "R@10", "R@20", "nDCG@10", "MAP@10", "coverage"
        ));
        for (kind, metrics) in self.models() {
            out.push_str(&format!(
                "{:<12} {:>7.4} {:>7.4} {:>7.4} {:>8.4} {:>7.4} {:>9.4}\n",
                kind.as_str(),
                metrics.precision_at_10,
                metrics.recall_at_10,
                metrics.recall_at_20,
                metrics.ndcg_at_10,
                metrics.map_at_10,
                metrics.coverage
            ));
        }
        for (kind, chosen) in &self.chosen {
            out.push_str(&format!("{kind}: {chosen}\n"));
        }
        out
    }
}

impl fmt::Display for MovielensReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table())
    }
}

/// Where a MovieLens folder's split comes from: loads `dir`, keeps the
/// positives and splits them as the protocol says.
pub fn load_split(
    dir: &Path,
    seed: u64,
    test_share: f64,
) -> Result<(MovieLens, Interactions, Interactions)> {
    let data = load(dir)?;
    let positives = data.positives();
    if positives.nnz() == 0 {
        return Err(Error::Empty(format!(
            "{}: no ratings >= {POSITIVE_RATING}",
            dir.display()
        )));
    }
    let (train, test) = random_split(&positives, test_share, seed);
    Ok((data, train, test))
}

/// Runs the protocol on the MovieLens folder `dir` (see the module docs).
/// Runs on the current rayon pool.
pub fn evaluate_movielens(dir: &Path, options: &MovielensOptions) -> Result<MovielensReport> {
    let (data, train, test) = load_split(dir, options.seed, options.test_share)?;
    let (inner, validation) = random_split(&train, options.validation_share, options.seed + 1);
    let content = || Content::new(content_vectors(&data), data.feature_dim.max(1));
    let mut chosen = BTreeMap::new();

    tracing::info!("movielens: tuning item-kNN");
    let knn = if options.tune {
        let mut grid = Vec::new();
        for similarity in [Similarity::Cosine, Similarity::Bm25 { k1: 100.0, b: 0.8 }] {
            for neighbours in [20, 50, 100, 200] {
                for shrink in [0.0, 10.0] {
                    if matches!(similarity, Similarity::Bm25 { .. }) && shrink > 0.0 {
                        continue;
                    }
                    grid.push(KnnParams {
                        neighbours,
                        similarity,
                        shrink,
                    });
                }
            }
        }
        best_on_validation(grid, &inner, &validation, |params| {
            Ok(Model::ItemKnn(ItemKnn::fit(&inner, params)?))
        })?
    } else {
        options.knn.clone()
    };
    chosen.insert(ModelKind::ItemKnn, format!("{knn:?}"));

    tracing::info!("movielens: tuning ALS");
    let als = if options.tune {
        let mut grid = Vec::new();
        for factors in [16, 32, 64] {
            for regularization in [1.0, 10.0, 50.0] {
                for alpha in [0.5, 1.0, 4.0] {
                    grid.push(AlsParams {
                        factors,
                        regularization,
                        alpha,
                        seed: options.seed,
                        ..options.als.clone()
                    });
                }
            }
        }
        best_on_validation(grid, &inner, &validation, |params| {
            Ok(Model::Als(Als::fit(&inner, params, &mut |_| true)?))
        })?
    } else {
        options.als.clone()
    };
    chosen.insert(ModelKind::Als, format!("{als:?}"));

    tracing::info!("movielens: tuning BPR");
    let bpr = if options.tune {
        let mut grid = Vec::new();
        for learning_rate in [0.01, 0.05] {
            for regularization in [0.001, 0.01] {
                for epochs in [50, 200] {
                    grid.push(BprParams {
                        learning_rate,
                        regularization,
                        epochs,
                        seed: options.seed,
                        threads: 1,
                        ..options.bpr.clone()
                    });
                }
            }
        }
        best_on_validation(grid, &inner, &validation, |params| {
            Ok(Model::Bpr(Bpr::fit(&inner, params, &mut |_| true)?))
        })?
    } else {
        options.bpr.clone()
    };
    chosen.insert(ModelKind::Bpr, format!("{bpr:?}"));

    let ease = if !options.with_ease {
        None
    } else if options.tune {
        tracing::info!("movielens: tuning EASE");
        let grid = [50.0, 100.0, 200.0, 400.0, 800.0]
            .map(|regularization| EaseParams { regularization })
            .to_vec();
        Some(best_on_validation(grid, &inner, &validation, |params| {
            Ok(Model::Ease(Ease::fit(&inner, params)?))
        })?)
    } else {
        Some(options.ease.clone())
    };
    if let Some(ease) = &ease {
        chosen.insert(ModelKind::Ease, format!("{ease:?}"));
    }

    // The hybrid's weights are tuned on the validation split with parts
    // trained on the inner part, then the parts are refitted on all of train.
    tracing::info!("movielens: tuning the hybrid's weights");
    let fit_all = |matrix: &Interactions| -> Result<Vec<Model>> {
        let mut parts = vec![
            Model::Popularity(Popularity::fit(matrix)),
            Model::ItemKnn(ItemKnn::fit(matrix, &knn)?),
            Model::Als(Als::fit(matrix, &als, &mut |_| true)?),
            Model::Bpr(Bpr::fit(matrix, &bpr, &mut |_| true)?),
            Model::Content(content()?),
        ];
        if let Some(ease) = &ease {
            parts.push(Model::Ease(Ease::fit(matrix, ease)?));
        }
        Ok(parts)
    };
    let tuned = Hybrid::tune(fit_all(&inner)?, &inner, &validation, 4)?;
    let weights: Vec<f32> = tuned.parts().iter().map(|(_, weight)| *weight).collect();
    chosen.insert(
        ModelKind::Hybrid,
        tuned
            .weights()
            .iter()
            .map(|(kind, weight)| format!("{kind} {weight:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
    );

    tracing::info!("movielens: refitting on the whole training split");
    let parts = fit_all(&train)?;
    let hybrid = Model::Hybrid(Hybrid::new(parts.iter().cloned().zip(weights).collect())?);
    let mut metrics: BTreeMap<ModelKind, RankingMetrics> = parts
        .iter()
        .map(|model| (model.kind(), evaluate(model, &train, &test, None)))
        .collect();
    metrics.insert(ModelKind::Hybrid, evaluate(&hybrid, &train, &test, None));
    let take = |kind: ModelKind| metrics.get(&kind).copied().unwrap_or_default();
    Ok(MovielensReport {
        popularity: take(ModelKind::Popularity),
        item_knn: take(ModelKind::ItemKnn),
        als: take(ModelKind::Als),
        bpr: take(ModelKind::Bpr),
        content: take(ModelKind::Content),
        hybrid: take(ModelKind::Hybrid),
        ease: metrics.get(&ModelKind::Ease).copied(),
        chosen,
        dataset: DatasetSummary {
            users: train.n_users(),
            items: train.n_items(),
            train: train.nnz(),
            test: test.nnz(),
        },
    })
}

/// The item features, or one constant feature when the folder has no item
/// file (content then ranks nothing above anything else).
fn content_vectors(data: &MovieLens) -> Vec<f32> {
    if data.feature_dim == 0 {
        vec![1.0; data.n_items()]
    } else {
        data.item_features.clone()
    }
}

/// The parameters whose model (trained on `inner`) has the best nDCG@10 on
/// `validation`; the first of equals wins.
fn best_on_validation<P: fmt::Debug>(
    grid: Vec<P>,
    inner: &Interactions,
    validation: &Interactions,
    fit: impl Fn(&P) -> Result<Model>,
) -> Result<P> {
    let mut best: Option<(f64, P)> = None;
    for params in grid {
        let model = fit(&params)?;
        let ndcg = evaluate(&model, inner, validation, None).ndcg_at_10;
        tracing::debug!(?params, ndcg, "validation");
        if best.as_ref().is_none_or(|(score, _)| ndcg > *score) {
            best = Some((ndcg, params));
        }
    }
    best.map(|(_, params)| params)
        .ok_or_else(|| Error::Empty("an empty hyper-parameter grid".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny folder in each of the two formats.
    fn write_folder(recbole: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut ratings = String::new();
        let mut items = String::new();
        if recbole {
            ratings.push_str("user_id:token\titem_id:token\trating:float\ttimestamp:float\n");
            items.push_str(
                "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n",
            );
        }
        for user in 1..=30u32 {
            for item in 1..=12u32 {
                if (user * 7 + item * 3) % 5 < 3 {
                    let rating = if (user + item) % 3 == 0 { 2 } else { 5 };
                    ratings.push_str(&format!("{user}\t{item}\t{rating}\t88125{item}\n"));
                }
            }
        }
        for item in 1..=12u32 {
            if recbole {
                items.push_str(&format!(
                    "{item}\tFilm {item}\t199{}\tAction Drama\n",
                    item % 10
                ));
            } else {
                let flags: Vec<&str> = (0..19)
                    .map(|g| if g == (item as usize % 19) { "1" } else { "0" })
                    .collect();
                items.push_str(&format!(
                    "{item}|Film {item}|01-Jan-1995||http://x|{}\n",
                    flags.join("|")
                ));
            }
        }
        let (ratings_name, items_name) = if recbole {
            ("ml-100k.inter", "ml-100k.item")
        } else {
            ("u.data", "u.item")
        };
        std::fs::write(dir.path().join(ratings_name), ratings).expect("writes");
        std::fs::write(dir.path().join(items_name), items).expect("writes");
        dir
    }

    #[test]
    fn both_formats_load_to_the_same_ratings() {
        let grouplens = load(write_folder(false).path()).expect("loads u.data");
        let recbole = load(write_folder(true).path()).expect("loads ml-100k.inter");
        assert_eq!(grouplens.ratings, recbole.ratings);
        assert_eq!(grouplens.n_items(), 12);
        assert_eq!(grouplens.feature_dim, GENRES.len() + DECADES);
        assert!(recbole.item_features[..grouplens.feature_dim].contains(&1.0));
        assert!(grouplens.positives().nnz() < grouplens.ratings.len());
    }

    #[test]
    fn the_quick_protocol_reports_every_model() {
        let folder = write_folder(true);
        let options = MovielensOptions {
            tune: false,
            als: AlsParams {
                factors: 4,
                iterations: 3,
                ..AlsParams::default()
            },
            bpr: BprParams {
                factors: 4,
                epochs: 3,
                ..BprParams::default()
            },
            ..MovielensOptions::default()
        };
        let report = evaluate_movielens(folder.path(), &options).expect("evaluates");
        assert!(report.als.users > 0);
        let json = serde_json::to_value(&report).expect("serialises");
        for key in [
            "popularity",
            "item_knn",
            "als",
            "bpr",
            "content",
            "hybrid",
            "ease",
        ] {
            assert!(
                json.get(key).and_then(|m| m.get("ndcg@10")).is_some(),
                "{key}"
            );
        }
        assert!(report.table().contains("hybrid"));
    }

    #[test]
    fn a_folder_without_ratings_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let error = load(dir.path()).expect_err("nothing to load");
        assert!(error.to_string().contains("fetch-movielens"), "{error}");
    }
}
