//! The knowledge graph's tables: entities, their mentions in posts, and the
//! evidence for each edge (post, sentence, extractor, confidence).
//!
//! Edges are not stored as such: an edge is the group of its evidence rows,
//! so rewriting or deleting a post's rows retracts exactly the mentions and
//! edges it supported, and an edge whose last evidence is gone is gone.

use std::collections::HashMap;

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use steward_domain::{PostId, Timestamp};

use crate::error::{Result, database};
use crate::rows::{column, json_list};
use crate::sql::SqlText;
use crate::write::{OnConflict, Table, check_text, delete_in, insert_rows};
use crate::{Store, to_millis};

/// One entity of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct KgEntity {
    /// Assigned by the store on first write; ignored when writing.
    pub id: i64,
    /// The normalised surface form that identifies the entity (`python`,
    /// `react-native`); unique.
    pub key: String,
    /// The display name.
    pub name: String,
    /// `language`, `library`, `framework`, `tool`, `platform`, `api`,
    /// `error`, `concept`, `version` or `other`.
    pub kind: String,
    /// Where it came from: `tag`, `synonym` or `ner`.
    pub source: String,
    /// The community tag it stands for, if any.
    pub tag: Option<String>,
    /// Other surface forms that name it.
    pub aliases: Vec<String>,
    /// A one-paragraph description (the tag wiki excerpt).
    pub description: Option<String>,
    pub updated_at: Timestamp,
}

/// One place a post names an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct KgMention {
    pub entity_id: i64,
    /// Byte offsets in the post's searchable text (title, then body prose).
    pub start: i64,
    pub end: i64,
    /// The text as written.
    pub surface: String,
    /// `gazetteer`, `ner` or `tag`.
    pub extractor: String,
    pub confidence: f64,
}

/// One piece of evidence for an edge: provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct KgEvidence {
    pub source_id: i64,
    pub target_id: i64,
    /// The relation's name (`related_to`, `is_a`, ...).
    pub relation: String,
    pub post_id: PostId,
    /// What found it: `cooccurrence`, `pattern:<cue>`, `llm:<model>`, ...
    pub extractor: String,
    /// The sentence it was read from (empty for post-level co-occurrence).
    pub sentence: String,
    pub confidence: f64,
}

/// Everything the graph knows from one post; written as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct KgPostFacts {
    pub post_id: PostId,
    pub mentions: Vec<KgMention>,
    pub evidence: Vec<KgEvidence>,
}

/// An edge: its evidence summed up.
#[derive(Debug, Clone, PartialEq)]
pub struct KgEdgeRow {
    pub source_id: i64,
    pub target_id: i64,
    pub relation: String,
    /// Evidence rows.
    pub evidence: i64,
    /// Distinct posts among them.
    pub posts: i64,
    /// The sum of their confidences.
    pub confidence: f64,
}

const ENTITIES: Table = Table {
    name: "kg_entities",
    columns: &[
        "id",
        "key",
        "name",
        "kind",
        "source",
        "tag",
        "aliases",
        "description",
        "updated_at",
    ],
    conflict: &["id"],
    on_conflict: OnConflict::UpdateOthers,
};

const MENTIONS: Table = Table {
    name: "kg_mentions",
    columns: &[
        "post_id",
        "entity_id",
        "start_byte",
        "end_byte",
        "surface",
        "extractor",
        "confidence",
    ],
    conflict: &["post_id", "entity_id", "start_byte"],
    on_conflict: OnConflict::UpdateOthers,
};

const EVIDENCE: Table = Table {
    name: "kg_evidence",
    columns: &[
        "source_id",
        "target_id",
        "relation",
        "post_id",
        "extractor",
        "sentence",
        "confidence",
    ],
    conflict: &["source_id", "target_id", "relation", "post_id", "extractor"],
    on_conflict: OnConflict::UpdateOthers,
};

const ENTITY_COLUMNS: &str = "id, key, name, kind, source, tag, aliases, description, updated_at";

fn entity(row: &AnyRow) -> Result<KgEntity> {
    const TABLE: &str = "kg_entities";
    Ok(KgEntity {
        id: column(row, TABLE, "id")?,
        key: column(row, TABLE, "key")?,
        name: column(row, TABLE, "name")?,
        kind: column(row, TABLE, "kind")?,
        source: column(row, TABLE, "source")?,
        tag: column(row, TABLE, "tag")?,
        aliases: json_list(row, TABLE, "aliases")?,
        description: column(row, TABLE, "description")?,
        updated_at: crate::from_millis(TABLE, column(row, TABLE, "updated_at")?)?,
    })
}

fn evidence(row: &AnyRow) -> Result<KgEvidence> {
    const TABLE: &str = "kg_evidence";
    Ok(KgEvidence {
        source_id: column(row, TABLE, "source_id")?,
        target_id: column(row, TABLE, "target_id")?,
        relation: column(row, TABLE, "relation")?,
        post_id: PostId(column(row, TABLE, "post_id")?),
        extractor: column(row, TABLE, "extractor")?,
        sentence: column(row, TABLE, "sentence")?,
        confidence: column(row, TABLE, "confidence")?,
    })
}

/// Writes entities by key: an existing key keeps its id (and every mention
/// and edge that names it), a new key gets the next free id. Returns the
/// entities as stored, ids filled in, in the order given.
pub(crate) async fn put_kg_entities(store: &Store, entities: &[KgEntity]) -> Result<Vec<KgEntity>> {
    if entities.is_empty() {
        return Ok(Vec::new());
    }
    for entity in entities {
        let id = || entity.key.clone();
        for text in [&entity.key, &entity.name, &entity.kind, &entity.source]
            .into_iter()
            .chain(&entity.tag)
            .chain(&entity.description)
            .chain(&entity.aliases)
        {
            check_text("kg_entities", &id, text)?;
        }
    }
    let dialect = store.dialect;
    let mut transaction = store.begin_write().await?;
    let connection: &mut AnyConnection = &mut transaction;
    let known = sqlx::query("SELECT id, key FROM kg_entities")
        .fetch_all(&mut *connection)
        .await
        .map_err(database("reading entity keys"))?;
    let mut ids: HashMap<String, i64> = HashMap::with_capacity(known.len());
    let mut next = 1;
    for row in &known {
        let id: i64 = column(row, "kg_entities", "id")?;
        ids.insert(column(row, "kg_entities", "key")?, id);
        next = next.max(id + 1);
    }
    let mut stored = Vec::with_capacity(entities.len());
    for entity in entities {
        let id = *ids.entry(entity.key.clone()).or_insert_with(|| {
            next += 1;
            next - 1
        });
        stored.push(KgEntity {
            id,
            ..entity.clone()
        });
    }
    // Two entries for one key: the last wins, as in any upsert.
    let mut seen = HashMap::with_capacity(stored.len());
    for (index, entity) in stored.iter().enumerate() {
        seen.insert(entity.id, index);
    }
    let mut unique: Vec<&KgEntity> = seen.values().map(|&index| &stored[index]).collect();
    unique.sort_by_key(|entity| entity.id);
    insert_rows(
        connection,
        dialect,
        &ENTITIES,
        &unique,
        |query, entity| {
            query
                .bind(entity.id)
                .bind(entity.key.clone())
                .bind(entity.name.clone())
                .bind(entity.kind.clone())
                .bind(entity.source.clone())
                .bind(entity.tag.clone())
                .bind(serde_json::Value::from(entity.aliases.clone()).to_string())
                .bind(entity.description.clone())
                .bind(to_millis(entity.updated_at))
        },
        "writing entities",
    )
    .await?;
    transaction
        .commit()
        .await
        .map_err(database("committing entities"))?;
    Ok(stored)
}

/// Removes entities with their mentions and evidence (a merge, or a name
/// that is no longer in the vocabulary).
pub(crate) async fn delete_kg_entities(store: &Store, ids: &[i64]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let dialect = store.dialect;
    let mut transaction = store.begin_write().await?;
    let connection: &mut AnyConnection = &mut transaction;
    let deleted = delete_in(
        connection,
        dialect,
        "kg_entities",
        "id",
        ids,
        Some("id"),
        "deleting entities",
    )
    .await?;
    delete_in(
        connection,
        dialect,
        "kg_mentions",
        "entity_id",
        ids,
        None,
        "deleting mentions",
    )
    .await?;
    for column_name in ["source_id", "target_id"] {
        delete_in(
            connection,
            dialect,
            "kg_evidence",
            column_name,
            ids,
            None,
            "deleting evidence",
        )
        .await?;
    }
    transaction
        .commit()
        .await
        .map_err(database("committing deleted entities"))?;
    Ok(u64::try_from(deleted.len()).expect("fewer than 2^64 entities"))
}

pub(crate) async fn kg_entities(store: &Store) -> Result<Vec<KgEntity>> {
    let sql = format!("SELECT {ENTITY_COLUMNS} FROM kg_entities ORDER BY id");
    let found = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading entities"))?;
    found.iter().map(entity).collect()
}

pub(crate) async fn kg_entity(store: &Store, id: i64) -> Result<Option<KgEntity>> {
    let mut sql = SqlText::new(store.dialect, "SELECT ");
    sql.push(ENTITY_COLUMNS)
        .push(" FROM kg_entities WHERE id = ")
        .parameter();
    let row = sql
        .query()
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .map_err(database("reading an entity"))?;
    row.as_ref().map(entity).transpose()
}

/// Replaces what the graph knows from each post: its old mentions and
/// evidence go, the new ones are written, all in one transaction.
pub(crate) async fn replace_kg_posts(store: &Store, facts: &[KgPostFacts]) -> Result<()> {
    if facts.is_empty() {
        return Ok(());
    }
    for fact in facts {
        let id = || fact.post_id.0.to_string();
        for mention in &fact.mentions {
            check_text("kg_mentions", &id, &mention.surface)?;
            check_text("kg_mentions", &id, &mention.extractor)?;
        }
        for evidence in &fact.evidence {
            check_text("kg_evidence", &id, &evidence.sentence)?;
            check_text("kg_evidence", &id, &evidence.extractor)?;
            check_text("kg_evidence", &id, &evidence.relation)?;
        }
    }
    let posts: Vec<i64> = facts.iter().map(|fact| fact.post_id.0).collect();
    let dialect = store.dialect;
    let mut transaction = store.begin_write().await?;
    let connection: &mut AnyConnection = &mut transaction;
    delete_kg_rows(connection, dialect, &posts).await?;
    // One row per key: the primary keys would reject a repeat in one statement.
    let mut mentions: HashMap<(i64, i64, i64), (PostId, &KgMention)> = HashMap::new();
    let mut evidence: HashMap<(i64, i64, &str, i64, &str), &KgEvidence> = HashMap::new();
    for fact in facts {
        for mention in &fact.mentions {
            mentions.insert(
                (fact.post_id.0, mention.entity_id, mention.start),
                (fact.post_id, mention),
            );
        }
        for row in &fact.evidence {
            let key = (
                row.source_id,
                row.target_id,
                row.relation.as_str(),
                row.post_id.0,
                row.extractor.as_str(),
            );
            let keep = evidence
                .get(&key)
                .is_none_or(|kept| kept.confidence < row.confidence);
            if keep {
                evidence.insert(key, row);
            }
        }
    }
    let mut mentions: Vec<(PostId, &KgMention)> = mentions.into_values().collect();
    mentions.sort_by_key(|(post, mention)| (post.0, mention.start, mention.entity_id));
    insert_rows(
        connection,
        dialect,
        &MENTIONS,
        &mentions,
        |query, (post, mention)| {
            query
                .bind(post.0)
                .bind(mention.entity_id)
                .bind(mention.start)
                .bind(mention.end)
                .bind(mention.surface.clone())
                .bind(mention.extractor.clone())
                .bind(mention.confidence)
        },
        "writing mentions",
    )
    .await?;
    let mut evidence: Vec<&KgEvidence> = evidence.into_values().collect();
    evidence.sort_by(|a, b| {
        (
            a.post_id.0,
            a.source_id,
            a.target_id,
            &a.relation,
            &a.extractor,
        )
            .cmp(&(
                b.post_id.0,
                b.source_id,
                b.target_id,
                &b.relation,
                &b.extractor,
            ))
    });
    insert_rows(
        connection,
        dialect,
        &EVIDENCE,
        &evidence,
        |query, row| {
            query
                .bind(row.source_id)
                .bind(row.target_id)
                .bind(row.relation.clone())
                .bind(row.post_id.0)
                .bind(row.extractor.clone())
                .bind(row.sentence.clone())
                .bind(row.confidence)
        },
        "writing evidence",
    )
    .await?;
    transaction
        .commit()
        .await
        .map_err(database("committing the graph's facts"))?;
    Ok(())
}

/// The mentions and evidence of `posts`, inside a caller's transaction
/// (`delete_posts` retracts a deleted post's facts with it).
pub(crate) async fn delete_kg_rows(
    connection: &mut AnyConnection,
    dialect: crate::Dialect,
    posts: &[i64],
) -> Result<()> {
    delete_in(
        connection,
        dialect,
        "kg_mentions",
        "post_id",
        posts,
        None,
        "retracting mentions",
    )
    .await?;
    delete_in(
        connection,
        dialect,
        "kg_evidence",
        "post_id",
        posts,
        None,
        "retracting evidence",
    )
    .await?;
    Ok(())
}

/// Forgets every mention and every piece of evidence (a full rebuild);
/// entities stay, so their ids do.
pub(crate) async fn clear_kg_facts(store: &Store) -> Result<()> {
    let mut transaction = store.begin_write().await?;
    let connection: &mut AnyConnection = &mut transaction;
    for table in ["DELETE FROM kg_mentions", "DELETE FROM kg_evidence"] {
        sqlx::query(table)
            .execute(&mut *connection)
            .await
            .map_err(database("clearing the graph"))?;
    }
    transaction
        .commit()
        .await
        .map_err(database("committing a cleared graph"))?;
    Ok(())
}

/// Every edge with its evidence summed.
pub(crate) async fn kg_edges(store: &Store) -> Result<Vec<KgEdgeRow>> {
    let found = sqlx::query(
        "SELECT source_id, target_id, relation, COUNT(*) AS evidence, \
         COUNT(DISTINCT post_id) AS posts, SUM(confidence) AS confidence \
         FROM kg_evidence GROUP BY source_id, target_id, relation \
         ORDER BY source_id, target_id, relation",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(database("reading edges"))?;
    found
        .iter()
        .map(|row| {
            const TABLE: &str = "kg_evidence";
            Ok(KgEdgeRow {
                source_id: column(row, TABLE, "source_id")?,
                target_id: column(row, TABLE, "target_id")?,
                relation: column(row, TABLE, "relation")?,
                evidence: column(row, TABLE, "evidence")?,
                posts: column(row, TABLE, "posts")?,
                confidence: column(row, TABLE, "confidence")?,
            })
        })
        .collect()
}

/// For each entity with mentions: the number of distinct posts naming it.
pub(crate) async fn kg_entity_post_counts(store: &Store) -> Result<Vec<(i64, i64)>> {
    let found = sqlx::query(
        "SELECT entity_id, COUNT(DISTINCT post_id) AS posts FROM kg_mentions \
         GROUP BY entity_id ORDER BY entity_id",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(database("counting mentions"))?;
    found
        .iter()
        .map(|row| {
            Ok((
                column(row, "kg_mentions", "entity_id")?,
                column(row, "kg_mentions", "posts")?,
            ))
        })
        .collect()
}

/// The evidence for edges between `a` and `b` (either direction), of one
/// relation if given, the most confident first.
pub(crate) async fn kg_evidence_between(
    store: &Store,
    a: i64,
    b: i64,
    relation: Option<&str>,
    limit: u32,
) -> Result<Vec<KgEvidence>> {
    let mut sql = SqlText::new(
        store.dialect,
        "SELECT source_id, target_id, relation, post_id, extractor, sentence, confidence \
         FROM kg_evidence WHERE ((source_id = ",
    );
    sql.parameter()
        .push(" AND target_id = ")
        .parameter()
        .push(") OR (source_id = ")
        .parameter()
        .push(" AND target_id = ")
        .parameter()
        .push("))");
    if relation.is_some() {
        sql.push(" AND relation = ").parameter();
    }
    sql.push(" ORDER BY confidence DESC, post_id, relation, extractor LIMIT ")
        .parameter();
    let mut query = sql.query().bind(a).bind(b).bind(b).bind(a);
    if let Some(relation) = relation {
        query = query.bind(relation.to_string());
    }
    let found = query
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading evidence"))?;
    found.iter().map(evidence).collect()
}

/// The posts that name `entity` most often, with their mention counts.
pub(crate) async fn kg_entity_posts(
    store: &Store,
    entity: i64,
    limit: u32,
) -> Result<Vec<(PostId, i64)>> {
    let mut sql = SqlText::new(
        store.dialect,
        "SELECT post_id, COUNT(*) AS mentions FROM kg_mentions WHERE entity_id = ",
    );
    sql.parameter()
        .push(" GROUP BY post_id ORDER BY mentions DESC, post_id LIMIT ")
        .parameter();
    let found = sql
        .query()
        .bind(entity)
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading an entity's posts"))?;
    found
        .iter()
        .map(|row| {
            Ok((
                PostId(column(row, "kg_mentions", "post_id")?),
                column(row, "kg_mentions", "mentions")?,
            ))
        })
        .collect()
}

/// One post's mentions, in text order.
pub(crate) async fn kg_post_mentions(store: &Store, post: PostId) -> Result<Vec<KgMention>> {
    let mut sql = SqlText::new(
        store.dialect,
        "SELECT entity_id, start_byte, end_byte, surface, extractor, confidence \
         FROM kg_mentions WHERE post_id = ",
    );
    sql.parameter().push(" ORDER BY start_byte, entity_id");
    let found = sql
        .query()
        .bind(post.0)
        .fetch_all(&store.pool)
        .await
        .map_err(database("reading a post's mentions"))?;
    found
        .iter()
        .map(|row| {
            const TABLE: &str = "kg_mentions";
            Ok(KgMention {
                entity_id: column(row, TABLE, "entity_id")?,
                start: column(row, TABLE, "start_byte")?,
                end: column(row, TABLE, "end_byte")?,
                surface: column(row, TABLE, "surface")?,
                extractor: column(row, TABLE, "extractor")?,
                confidence: column(row, TABLE, "confidence")?,
            })
        })
        .collect()
}
