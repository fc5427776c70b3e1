//! The closed set of recommender models behind one type: what the trainer
//! stores in the artifact registry and what serving loads. Every model is an
//! immutable value; a user's newest history is passed in on each call.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::als::Als;
use crate::bpr::Bpr;
use crate::codec::{Reader, Writer};
use crate::content::Content;
use crate::ease::Ease;
use crate::hybrid::Hybrid;
use crate::knn::ItemKnn;
use crate::matrix::{Row, Scored, top_n};
use crate::popularity::Popularity;
use crate::{Error, Result};

/// A trained model of one of the known kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    Popularity(Popularity),
    ItemKnn(ItemKnn),
    Als(Als),
    Bpr(Bpr),
    Content(Content),
    Hybrid(Hybrid),
    /// Steck 2019's closed-form item–item model (catalogues up to
    /// [`crate::ease::MAX_ITEMS`] items).
    Ease(Ease),
}

/// Which model: the stable names used in configs, the API and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Popularity,
    ItemKnn,
    Als,
    Bpr,
    Content,
    Hybrid,
    Ease,
}

impl ModelKind {
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Popularity,
        ModelKind::ItemKnn,
        ModelKind::Als,
        ModelKind::Bpr,
        ModelKind::Content,
        ModelKind::Hybrid,
        ModelKind::Ease,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Popularity => "popularity",
            ModelKind::ItemKnn => "item_knn",
            ModelKind::Als => "als",
            ModelKind::Bpr => "bpr",
            ModelKind::Content => "content",
            ModelKind::Hybrid => "hybrid",
            ModelKind::Ease => "ease",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = Error;

    fn from_str(name: &str) -> Result<ModelKind> {
        ModelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| Error::InvalidParameter {
                name: "model",
                message: format!(
                    "unknown model `{name}` (known: {})",
                    ModelKind::ALL.map(ModelKind::as_str).join(", ")
                ),
            })
    }
}

impl Model {
    pub fn kind(&self) -> ModelKind {
        match self {
            Model::Popularity(_) => ModelKind::Popularity,
            Model::ItemKnn(_) => ModelKind::ItemKnn,
            Model::Als(_) => ModelKind::Als,
            Model::Bpr(_) => ModelKind::Bpr,
            Model::Content(_) => ModelKind::Content,
            Model::Hybrid(_) => ModelKind::Hybrid,
            Model::Ease(_) => ModelKind::Ease,
        }
    }

    /// Items the model knows (scores are indexed by item).
    pub fn n_items(&self) -> usize {
        match self {
            Model::Popularity(model) => model.n_items(),
            Model::ItemKnn(model) => model.n_items(),
            Model::Als(model) => model.n_items(),
            Model::Bpr(model) => model.n_items(),
            Model::Content(model) => model.n_items(),
            Model::Hybrid(model) => model.n_items(),
            Model::Ease(model) => model.n_items(),
        }
    }

    /// Every item's score for this user into `out` (length [`Model::n_items`]);
    /// non-finite scores mean "cannot recommend this item" (content items
    /// without a vector, say). History items are scored like any other.
    pub fn scores(&self, user: Option<u32>, history: Row<'_>, out: &mut [f32]) {
        assert_eq!(out.len(), self.n_items(), "one score slot per item");
        match self {
            Model::Popularity(model) => model.scores(user, history, out),
            Model::ItemKnn(model) => model.scores(user, history, out),
            Model::Als(model) => model.scores(user, history, out),
            Model::Bpr(model) => model.scores(user, history, out),
            Model::Content(model) => model.scores(user, history, out),
            Model::Hybrid(model) => model.scores(user, history, out),
            Model::Ease(model) => model.scores(user, history, out),
        }
    }

    /// `history`: the user's positive items and weights (sorted by item) — for
    /// a known user, the row the model was trained on, or a newer row
    /// (fold-in). `exclude`: sorted item indices never to return. History
    /// items are never returned either, whatever `exclude` holds.
    pub fn recommend(
        &self,
        user: Option<u32>,
        history: Row<'_>,
        n: usize,
        exclude: &[u32],
    ) -> Vec<Scored> {
        let mut scores = vec![0f32; self.n_items()];
        self.scores(user, history, &mut scores);
        top_n(&scores, n, &[history.indices, exclude])
    }

    /// Items most like `item`, by this model's notion of likeness.
    pub fn similar_items(&self, item: u32, n: usize) -> Vec<Scored> {
        match self {
            Model::Popularity(model) => model.similar_items(item, n),
            Model::ItemKnn(model) => model.similar_items(item, n),
            Model::Als(model) => model.similar_items(item, n),
            Model::Bpr(model) => model.similar_items(item, n),
            Model::Content(model) => model.similar_items(item, n),
            Model::Hybrid(model) => model.similar_items(item, n),
            Model::Ease(model) => model.similar_items(item, n),
        }
    }

    /// The history items (with their share of the score) that produced
    /// `item`'s score for this user, computed from the model. Largest first,
    /// at most `top`. Popularity explains nothing by history: empty.
    pub fn explain(
        &self,
        user: Option<u32>,
        history: Row<'_>,
        item: u32,
        top: usize,
    ) -> Vec<Scored> {
        match self {
            Model::Popularity(_) => Vec::new(),
            Model::ItemKnn(model) => model.explain(history, item, top),
            Model::Als(model) => model.explain(history, item, top),
            Model::Bpr(model) => model.explain(history, item, top),
            Model::Content(model) => model.explain(history, item, top),
            Model::Hybrid(model) => model.explain(user, history, item, top),
            Model::Ease(model) => model.explain(history, item, top),
        }
    }

    /// The compact binary form (JSON header + little-endian arrays).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut writer = Writer::new(self.kind().as_str());
        match self {
            Model::Popularity(model) => model.encode(&mut writer),
            Model::ItemKnn(model) => model.encode(&mut writer),
            Model::Als(model) => model.encode(&mut writer),
            Model::Bpr(model) => model.encode(&mut writer),
            Model::Content(model) => model.encode(&mut writer),
            Model::Hybrid(model) => model.encode(&mut writer),
            Model::Ease(model) => model.encode(&mut writer),
        }
        writer.finish()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model> {
        let reader = Reader::new(bytes)?;
        let kind: ModelKind = reader
            .kind()
            .parse()
            .map_err(|_| Error::Codec(format!("unknown model kind `{}`", reader.kind())))?;
        Ok(match kind {
            ModelKind::Popularity => Model::Popularity(Popularity::decode(&reader)?),
            ModelKind::ItemKnn => Model::ItemKnn(ItemKnn::decode(&reader)?),
            ModelKind::Als => Model::Als(Als::decode(&reader)?),
            ModelKind::Bpr => Model::Bpr(Bpr::decode(&reader)?),
            ModelKind::Content => Model::Content(Content::decode(&reader)?),
            ModelKind::Hybrid => Model::Hybrid(Hybrid::decode(&reader)?),
            ModelKind::Ease => Model::Ease(Ease::decode(&reader)?),
        })
    }
}
