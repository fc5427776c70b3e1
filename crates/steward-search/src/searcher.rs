//! One search over both indices: BM25, dense, or both fused, with the
//! evidence of each retriever kept on every hit ("why is this here?").

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use steward_domain::{Post, PostId};
use steward_ml::embed::{Embedder, Purpose};
use steward_store::Store;
use tokio::sync::RwLock;

use crate::fusion;
use crate::lexical::lead_snippet;
use crate::{
    Error, Expansion, Filters, LexicalHit, LexicalIndex, Result, ScoredThread, VectorIndex,
};

/// Which retrievers answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The lexical index alone.
    Bm25,
    /// The vector index alone (needs an embedder and embedded posts).
    Dense,
    /// Both, fused.
    #[default]
    Hybrid,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Bm25 => "bm25",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Mode, String> {
        match value {
            "bm25" => Ok(Mode::Bm25),
            "dense" => Ok(Mode::Dense),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(format!(
                "unknown search mode `{other}`: use bm25, dense or hybrid"
            )),
        }
    }
}

/// How a hybrid search merges its two lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// Reciprocal-rank fusion: ranks only, robust to score scales.
    #[default]
    Rrf,
    /// A weighted sum of each list's normalised scores.
    Weighted,
}

impl Fusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Fusion::Rrf => "rrf",
            Fusion::Weighted => "weighted",
        }
    }
}

impl std::str::FromStr for Fusion {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Fusion, String> {
        match value {
            "rrf" => Ok(Fusion::Rrf),
            "weighted" => Ok(Fusion::Weighted),
            other => Err(format!("unknown fusion `{other}`: use rrf or weighted")),
        }
    }
}

pub use crate::fusion::RRF_K;

/// How deep each retriever is read before fusion: fusion only reorders what
/// the retrievers found, so a hit below this depth in both lists is lost.
pub const CANDIDATES: usize = 100;

/// One search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRequest {
    pub query: String,
    pub mode: Mode,
    pub fusion: Fusion,
    /// The dense list's share in weighted fusion, 0..=1.
    pub dense_weight: f32,
    pub filters: Filters,
    pub limit: usize,
    pub offset: usize,
}

impl SearchRequest {
    /// A hybrid RRF search for `query`, first ten hits.
    pub fn new(query: impl Into<String>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            mode: Mode::Hybrid,
            fusion: Fusion::Rrf,
            dense_weight: 0.5,
            filters: Filters::default(),
            limit: 10,
            offset: 0,
        }
    }
}

/// What the lexical retriever saw in a hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LexicalEvidence {
    /// 1-based rank in the BM25 list.
    pub rank: usize,
    pub score: f32,
    pub matched_terms: Vec<String>,
    /// Body text around the matches, matches in `<mark>`.
    pub snippet: String,
}

/// What the dense retriever saw in a hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseEvidence {
    /// 1-based rank in the dense list.
    pub rank: usize,
    /// Cosine similarity of the query and the thread's vector.
    pub similarity: f32,
}

/// One thread found, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub post_id: PostId,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub score_of_post: i64,
    pub answer_count: i64,
    pub accepted_answer_id: Option<PostId>,
    /// The fused score (or the single retriever's) that ordered the hits.
    pub score: f32,
    /// `bm25`, `dense`, or both: which retrievers found it.
    pub found_by: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25: Option<LexicalEvidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense: Option<DenseEvidence>,
    /// The lexical snippet, or the start of the body when only dense found it;
    /// HTML-escaped either way, matches in `<mark>`.
    pub snippet: String,
}

/// The hits of one search, and what ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    pub query: String,
    /// The mode that ran: `dense` or `hybrid` fall back to `bm25` when no
    /// vector index or embedder is loaded, and `notice` says so.
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion: Option<Fusion>,
    pub hits: Vec<SearchHit>,
    /// How many fused candidates there were (an upper bound for paging).
    pub candidates: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// The tag synonyms the query held: each also searched for its tag.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expansions: Vec<Expansion>,
    /// The query's embedding when the dense side ran (the query and the
    /// tags of its expansions), for callers that score more against it
    /// without embedding the query again.
    #[serde(skip)]
    pub query_vector: Option<Vec<f32>>,
}

/// The dense half of a searcher: the index and the model that embeds queries
/// into its space (the model the stored vectors were made with).
#[derive(Debug, Clone)]
pub struct Dense {
    pub index: Arc<RwLock<VectorIndex>>,
    pub embedder: Arc<Embedder>,
}

/// Both indices over one store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Searcher {
    store: Store,
    lexical: Arc<LexicalIndex>,
    dense: Option<Dense>,
}

impl Searcher {
    pub fn new(store: Store, lexical: Arc<LexicalIndex>, dense: Option<Dense>) -> Searcher {
        Searcher {
            store,
            lexical,
            dense,
        }
    }

    pub fn lexical(&self) -> &Arc<LexicalIndex> {
        &self.lexical
    }

    pub fn dense(&self) -> Option<&Dense> {
        self.dense.as_ref()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `request`. The CPU work (BM25, query embedding, dense scan) runs
    /// on blocking threads, never on the async runtime.
    pub async fn search(&self, request: &SearchRequest) -> Result<SearchResults> {
        let query = request.query.trim();
        if query.is_empty() {
            return Err(Error::EmptyQuery);
        }
        let depth = CANDIDATES.max(request.offset + request.limit);
        let mut notice = None;
        let dense_ready = match &self.dense {
            Some(dense) => !dense.index.read().await.is_empty(),
            None => false,
        };
        let mode = match (request.mode, dense_ready) {
            (Mode::Bm25, _) => Mode::Bm25,
            (mode, true) => mode,
            (mode, false) => {
                notice = Some(format!(
                    "{} search needs embedded posts and an embedding model; \
                     showing bm25 results (run `steward embed --all`, then `steward index build`)",
                    mode.as_str()
                ));
                Mode::Bm25
            }
        };

        let expansions = self.lexical.expansions(query);
        let lexical_scores = if mode == Mode::Dense {
            None
        } else {
            let index = self.lexical.clone();
            let text = query.to_string();
            let filters = request.filters.clone();
            Some(
                tokio::task::spawn_blocking(move || index.score(&text, &filters, depth))
                    .await
                    .map_err(Error::worker_thread)??,
            )
        };
        let lexical_hits: &[ScoredThread] = lexical_scores
            .as_ref()
            .map_or(&[], |scores| scores.hits.as_slice());
        let (dense_hits, query_vector) = match (&self.dense, mode) {
            (Some(dense), Mode::Dense | Mode::Hybrid) => {
                // The tags a synonym stands for are named to the model too.
                let mut text = query.to_string();
                for expansion in &expansions {
                    text.push(' ');
                    text.push_str(&expansion.tag);
                }
                let (hits, vector) = self
                    .dense_search(dense, &text, &request.filters, depth)
                    .await?;
                (hits, Some(vector))
            }
            _ => (Vec::new(), None),
        };

        let lexical_list: Vec<(PostId, f32)> = lexical_hits
            .iter()
            .map(|hit| (hit.post_id, hit.score))
            .collect();
        let dense_list: Vec<(PostId, f32)> = dense_hits
            .iter()
            .map(|(id, similarity)| (*id, *similarity))
            .collect();
        let (fused, fusion_used) = match mode {
            Mode::Bm25 => (lexical_list, None),
            Mode::Dense => (dense_list, None),
            Mode::Hybrid => match request.fusion {
                Fusion::Rrf => (
                    fusion::reciprocal_rank(&[&lexical_list, &dense_list], RRF_K),
                    Some(Fusion::Rrf),
                ),
                Fusion::Weighted => (
                    fusion::weighted(
                        &lexical_list,
                        &dense_list,
                        request.dense_weight.clamp(0.0, 1.0),
                    ),
                    Some(Fusion::Weighted),
                ),
            },
        };
        let candidates = fused.len();
        let page: Vec<(PostId, f32)> = fused
            .into_iter()
            .skip(request.offset)
            .take(request.limit)
            .collect();

        let ids: Vec<PostId> = page.iter().map(|(id, _)| *id).collect();
        // Matched terms and snippets only for the page shown.
        let lexical_page: Vec<LexicalHit> = match &lexical_scores {
            Some(scores) => {
                let index = self.lexical.clone();
                let scores = scores.clone();
                let wanted = ids.clone();
                tokio::task::spawn_blocking(move || index.evidence(&scores, &wanted))
                    .await
                    .map_err(Error::worker_thread)??
            }
            None => Vec::new(),
        };
        let lexical_ranks: HashMap<PostId, usize> = lexical_hits
            .iter()
            .enumerate()
            .map(|(rank, hit)| (hit.post_id, rank + 1))
            .collect();
        let lexical_by_id: HashMap<PostId, (usize, &LexicalHit)> = lexical_page
            .iter()
            .filter_map(|hit| Some((hit.post_id, (*lexical_ranks.get(&hit.post_id)?, hit))))
            .collect();
        let dense_by_id: HashMap<PostId, (usize, f32)> = dense_hits
            .iter()
            .enumerate()
            .map(|(rank, (id, similarity))| (*id, (rank + 1, *similarity)))
            .collect();
        let posts: HashMap<PostId, Post> = self
            .store
            .posts_by_ids(&ids)
            .await?
            .into_iter()
            .map(|post| (post.id, post))
            .collect();
        let hits = page
            .into_iter()
            // A post deleted since the index last caught up is not shown.
            .filter_map(|(id, score)| {
                let post = posts.get(&id)?;
                let bm25 = lexical_by_id.get(&id).map(|(rank, hit)| LexicalEvidence {
                    rank: *rank,
                    score: hit.score,
                    matched_terms: hit.matched_terms.clone(),
                    snippet: hit.snippet.clone(),
                });
                let dense = dense_by_id
                    .get(&id)
                    .map(|(rank, similarity)| DenseEvidence {
                        rank: *rank,
                        similarity: *similarity,
                    });
                let mut found_by = Vec::new();
                if bm25.is_some() {
                    found_by.push("bm25");
                }
                if dense.is_some() {
                    found_by.push("dense");
                }
                let snippet = match &bm25 {
                    Some(evidence) if !evidence.snippet.is_empty() => evidence.snippet.clone(),
                    _ => lead_snippet(&post.body_text),
                };
                Some(SearchHit {
                    post_id: id,
                    title: post.title.clone(),
                    tags: post.tags.clone(),
                    score_of_post: post.score,
                    answer_count: post.answer_count,
                    accepted_answer_id: post.accepted_answer_id,
                    score,
                    found_by,
                    bm25,
                    dense,
                    snippet,
                })
            })
            .collect();
        Ok(SearchResults {
            query: query.to_string(),
            mode,
            fusion: fusion_used,
            hits,
            candidates,
            notice,
            expansions,
            query_vector,
        })
    }

    /// The dense list for `query`: embedded as a query, searched in the
    /// vector index, then narrowed by `filters` against the stored posts
    /// (the vector index keeps vectors only). With filters it reads deeper,
    /// so that a narrow filter still fills a page. Returns the query's
    /// embedding too.
    async fn dense_search(
        &self,
        dense: &Dense,
        query: &str,
        filters: &Filters,
        depth: usize,
    ) -> Result<(Vec<(PostId, f32)>, Vec<f32>)> {
        let embedder = dense.embedder.clone();
        let text = query.to_string();
        let vector = tokio::task::spawn_blocking(move || {
            embedder
                .embed(&[text.as_str()], Purpose::Query)
                .map(|mut vectors| vectors.pop().unwrap_or_default())
        })
        .await
        .map_err(Error::worker_thread)??;
        let read = if filters.is_empty() {
            depth
        } else {
            depth * FILTERED_READ_FACTOR
        };
        let index = dense.index.clone().read_owned().await;
        let (found, vector) = tokio::task::spawn_blocking(move || {
            index
                .search(&vector, read, None)
                .map(|found| (found, vector))
        })
        .await
        .map_err(Error::worker_thread)??;
        let mut hits: Vec<(PostId, f32)> = found
            .into_iter()
            .map(|hit| (hit.post_id, hit.similarity))
            .collect();
        if !filters.is_empty() {
            let ids: Vec<PostId> = hits.iter().map(|(id, _)| *id).collect();
            let keep: std::collections::HashSet<PostId> = self
                .store
                .posts_by_ids(&ids)
                .await?
                .iter()
                .filter(|post| filters.matches(post))
                .map(|post| post.id)
                .collect();
            hits.retain(|(id, _)| keep.contains(id));
        }
        hits.truncate(depth);
        Ok((hits, vector))
    }
}

/// How much deeper the dense list is read when filters narrow it.
const FILTERED_READ_FACTOR: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_fusions_parse_by_name() {
        assert_eq!("hybrid".parse::<Mode>(), Ok(Mode::Hybrid));
        assert_eq!("weighted".parse::<Fusion>(), Ok(Fusion::Weighted));
        assert!(
            "fuzzy"
                .parse::<Mode>()
                .expect_err("an unknown mode")
                .contains("bm25, dense or hybrid")
        );
    }
}
