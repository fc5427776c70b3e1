//! The knowledge graph's tables: entities keep their ids across rewrites, a
//! post's facts are replaced as a whole, and an edge lives exactly as long as
//! some evidence for it does (a rewritten or deleted post retracts its own).

use steward_domain::PostId;
use steward_store::{KgEntity, KgEvidence, KgMention, KgPostFacts, WriteBatch};

use super::{at, on_every_backend, question};

fn entity(key: &str, kind: &str) -> KgEntity {
    KgEntity {
        id: 0,
        key: key.to_string(),
        name: key.to_string(),
        kind: kind.to_string(),
        source: "tag".to_string(),
        tag: Some(key.to_string()),
        aliases: vec![format!("{key}-alias"), "名字".to_string()],
        description: Some(format!("{key} is a thing & <more>")),
        updated_at: at(1_000),
    }
}

fn mention(entity_id: i64, start: i64) -> KgMention {
    KgMention {
        entity_id,
        start,
        end: start + 4,
        surface: "tokio".to_string(),
        extractor: "gazetteer".to_string(),
        confidence: 1.0,
    }
}

fn evidence(source: i64, target: i64, relation: &str, post: i64, confidence: f64) -> KgEvidence {
    KgEvidence {
        source_id: source,
        target_id: target,
        relation: relation.to_string(),
        post_id: PostId(post),
        extractor: "pattern:is_a".to_string(),
        sentence: "tokio is a runtime".to_string(),
        confidence,
    }
}

#[tokio::test]
async fn entities_keep_their_ids_when_rewritten_by_key() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let first = store
            .put_kg_entities(&[entity("rust", "language"), entity("tokio", "library")])
            .await
            .expect("write");
        assert_eq!(first.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);

        let mut renamed = entity("tokio", "framework");
        renamed.name = "Tokio".to_string();
        let second = store
            .put_kg_entities(&[renamed, entity("serde", "library")])
            .await
            .expect("rewrite");
        assert_eq!(second.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3]);

        let all = store.kg_entities().await.expect("read");
        assert_eq!(all.len(), 3);
        let tokio = store.kg_entity(2).await.expect("read").expect("tokio");
        assert_eq!(
            (tokio.name.as_str(), tokio.kind.as_str()),
            ("Tokio", "framework")
        );
        assert_eq!(tokio.aliases, ["tokio-alias", "名字"]);
        assert_eq!(
            tokio.description.as_deref(),
            Some("tokio is a thing & <more>")
        );
        assert_eq!(store.kg_entity(99).await.expect("read"), None);
    })
    .await;
}

#[tokio::test]
async fn an_edge_lives_while_it_has_evidence() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        store
            .write(&WriteBatch {
                posts: vec![
                    question(10, &["rust"], 1_000),
                    question(11, &["rust"], 2_000),
                ],
                ..WriteBatch::default()
            })
            .await
            .expect("posts");
        let ids: Vec<i64> = store
            .put_kg_entities(&[entity("tokio", "library"), entity("runtime", "concept")])
            .await
            .expect("entities")
            .iter()
            .map(|e| e.id)
            .collect();
        let (tokio, runtime) = (ids[0], ids[1]);
        let facts = |post: i64, confidence: f64| KgPostFacts {
            post_id: PostId(post),
            mentions: vec![mention(tokio, 0), mention(runtime, 10), mention(tokio, 20)],
            // The same evidence twice in one post: the more confident stays.
            evidence: vec![
                evidence(tokio, runtime, "is_a", post, confidence / 2.0),
                evidence(tokio, runtime, "is_a", post, confidence),
            ],
        };
        store
            .replace_kg_posts(&[facts(10, 0.8), facts(11, 0.6)])
            .await
            .expect("facts");
        let edges = store.kg_edges().await.expect("edges");
        assert_eq!(edges.len(), 1);
        assert_eq!((edges[0].evidence, edges[0].posts), (2, 2));
        assert!((edges[0].confidence - 1.4).abs() < 1e-9, "{edges:?}");
        assert_eq!(
            store.kg_entity_post_counts().await.expect("counts"),
            [(tokio, 2), (runtime, 2)]
        );
        assert_eq!(
            store.kg_entity_posts(tokio, 10).await.expect("posts"),
            [(PostId(10), 2), (PostId(11), 2)]
        );
        let provenance = store
            .kg_evidence_between(runtime, tokio, Some("is_a"), 10)
            .await
            .expect("evidence");
        assert!(
            store
                .kg_evidence_between(runtime, tokio, Some("related_to"), 10)
                .await
                .expect("evidence")
                .is_empty(),
            "only the relation asked for"
        );
        assert_eq!(
            provenance.iter().map(|e| e.post_id.0).collect::<Vec<_>>(),
            [10, 11],
            "either direction, most confident first"
        );
        assert_eq!(provenance[0].sentence, "tokio is a runtime");

        // Post 10 is edited and no longer says it: only post 11 supports the edge.
        store
            .replace_kg_posts(&[KgPostFacts {
                post_id: PostId(10),
                mentions: vec![mention(tokio, 0)],
                evidence: Vec::new(),
            }])
            .await
            .expect("rewrite");
        let edges = store.kg_edges().await.expect("edges");
        assert_eq!((edges[0].evidence, edges[0].posts), (1, 1));
        assert_eq!(
            store
                .kg_post_mentions(PostId(10))
                .await
                .expect("mentions")
                .len(),
            1
        );

        // Post 11 is deleted: its facts go with it, and the edge with them.
        store.delete_posts(&[PostId(11)]).await.expect("delete");
        assert!(store.kg_edges().await.expect("edges").is_empty());
        assert_eq!(
            store.kg_entity_post_counts().await.expect("counts"),
            [(tokio, 1)]
        );

        // A full rebuild starts from no facts but keeps the entities.
        store.clear_kg_facts().await.expect("clear");
        assert!(
            store
                .kg_entity_post_counts()
                .await
                .expect("counts")
                .is_empty()
        );
        assert_eq!(store.kg_entities().await.expect("entities").len(), 2);

        // Deleting an entity takes its mentions and edges with it.
        store
            .replace_kg_posts(&[facts(10, 0.9)])
            .await
            .expect("facts again");
        assert_eq!(
            store.delete_kg_entities(&[runtime]).await.expect("delete"),
            1
        );
        assert!(store.kg_edges().await.expect("edges").is_empty());
        assert_eq!(
            store.kg_entity_post_counts().await.expect("counts"),
            [(tokio, 1)]
        );
    })
    .await;
}

#[tokio::test]
async fn text_postgresql_cannot_store_is_refused_before_writing() {
    on_every_backend(|db| async move {
        let store = db.open().await;
        let mut bad = entity("nul", "concept");
        bad.name = "a\0b".to_string();
        let error = store
            .put_kg_entities(&[entity("fine", "concept"), bad])
            .await
            .expect_err("NUL");
        assert!(error.to_string().contains("NUL"), "{error}");
        assert!(
            store.kg_entities().await.expect("read").is_empty(),
            "nothing half-written"
        );
    })
    .await;
}
