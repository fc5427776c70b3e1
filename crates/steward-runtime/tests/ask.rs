//! Cited question answering end to end with the real models (all-MiniLM-L6-v2
//! and SmolLM2-135M-Instruct), on SQLite and (when `TEST_DATABASE_URL` is set,
//! always under `CI=true`) PostgreSQL: English and Chinese questions answered
//! in their language with citations that resolve, a question the community
//! cannot answer refused with the closest threads and who could answer them,
//! the answer log and the audit row written, and attribution with real
//! embeddings keeping a copied sentence and dropping an invented one.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use steward_domain::{Post, PostId, PostKind};
use steward_jobs::JobHandle;
use steward_ml::audit::Gateway;
use steward_ml::embed::bert::{BertEmbedder, BertOptions};
use steward_ml::embed::{Embedder, Purpose};
use steward_ml::llm::local::{LocalLlm, LocalOptions};
use steward_ml::llm::{CancellationToken, Llm};
use steward_runtime::Config;
use steward_runtime::search::{RefreshOptions, open_searcher, refresh};
use steward_search::answer::support::{PassageEvidence, attribute};
use steward_search::answer::{
    AnswerMode, Answerer, AskOptions, AskRequest, AskResponse, Asker, check_citations,
    language_follows, sentences,
};
use steward_store::{Store, WriteBatch};
use steward_testkit::fixtures::{post, user};
use steward_testkit::{TestDb, on_every_backend, shared_model_dir};

/// candle's and rayon's pools spin; one thread each keeps parallel tests fast.
#[allow(unsafe_code)]
fn limit_threads() {
    for var in ["CANDLE_NUM_THREADS", "RAYON_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            // SAFETY: runs once inside a OnceLock initialiser, before any
            // candle or rayon thread exists.
            unsafe { std::env::set_var(var, "1") };
        }
    }
}

fn embedder() -> Option<Arc<Embedder>> {
    static EMBEDDER: OnceLock<Option<Arc<Embedder>>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            limit_threads();
            let dir = shared_model_dir("all-MiniLM-L6-v2")?;
            let options = BertOptions::from_model_dir(&dir).expect("model options");
            let bert = BertEmbedder::load(&dir, options).expect("the model loads");
            Some(Arc::new(Embedder::Bert(Box::new(bert))))
        })
        .clone()
}

fn llm() -> Option<Llm> {
    static LLM: OnceLock<Option<LocalLlm>> = OnceLock::new();
    LLM.get_or_init(|| {
        limit_threads();
        let dir = shared_model_dir("SmolLM2-135M-Instruct")?;
        Some(LocalLlm::load(&dir, &LocalOptions::default()).expect("SmolLM2 loads"))
    })
    .clone()
    .map(Llm::Local)
}

fn question(id: i64, title: &str, body: &str, tags: &[&str], accepted: Option<i64>) -> Post {
    let mut question = post(
        id,
        PostKind::Question,
        None,
        1_704_067_200_000 + id * 60_000,
    );
    question.title = Some(title.to_string());
    question.body_text = body.to_string();
    question.body_html = format!("<p>{body}</p>");
    question.tags = tags.iter().map(|tag| tag.to_string()).collect();
    question.accepted_answer_id = accepted.map(PostId);
    question
}

fn answer(id: i64, parent: i64, owner: i64, score: i64, body: &str) -> Post {
    let mut answer = post(
        id,
        PostKind::Answer,
        Some(parent),
        1_704_070_000_000 + id * 60_000,
    );
    answer.owner_id = Some(steward_domain::UserId(owner));
    answer.score = score;
    answer.body_text = body.to_string();
    answer.body_html = format!("<p>{body}</p>");
    answer
}

/// A small community: git, docker and python threads in English, a
/// PostgreSQL thread in Chinese, each with answers by different people.
fn community() -> WriteBatch {
    let mut posts = vec![
        question(
            1,
            "How do I undo my last git commit?",
            "I committed the wrong files to my local repository and want to take the commit back before pushing.",
            &["git"],
            Some(11),
        ),
        answer(
            11,
            1,
            2,
            25,
            "Use git reset --soft HEAD~1 to undo the last commit. The changes of that commit stay staged, so you can fix them and commit again.",
        ),
        answer(
            12,
            1,
            3,
            4,
            "If you already pushed the commit, use git revert instead. It makes a new commit that undoes the old one without rewriting history.",
        ),
        question(
            2,
            "Docker container loses its data on restart",
            "Files written inside my container are gone after docker restart; where should the database live?",
            &["docker"],
            Some(21),
        ),
        answer(
            21,
            2,
            3,
            12,
            "Keep the data in a Docker volume. A volume lives outside the container, so the data survives restarts and upgrades.",
        ),
        question(
            3,
            "Python list comprehension with a condition",
            "How can I filter a list while transforming each element in one expression?",
            &["python"],
            Some(31),
        ),
        answer(
            31,
            3,
            2,
            9,
            "Put the condition at the end of the comprehension: squares of the even numbers are written as [x * x for x in numbers if x % 2 == 0].",
        ),
        question(
            4,
            "如何给 PostgreSQL 表的列创建索引",
            "查询很慢，我想知道怎样为经常查询的列创建索引，以及索引会不会影响写入速度。",
            &["postgresql"],
            Some(41),
        ),
        answer(
            41,
            4,
            4,
            7,
            "使用 CREATE INDEX 语句为经常查询的列创建索引。索引会让查询变快。索引也会让写入稍微变慢，因为每次写入都要更新索引。",
        ),
    ];
    for question in posts
        .iter_mut()
        .filter(|post| post.kind == PostKind::Question)
    {
        question.answer_count = match question.id.0 {
            1 => 2,
            _ => 1,
        };
        question.language = Some(if question.id.0 == 4 { "zh" } else { "en" }.to_string());
    }
    let mut users: Vec<_> = (1..=4).map(user).collect();
    for (index, name) in ["Operator", "Grace", "Linus", "Wei"].iter().enumerate() {
        users[index].display_name = name.to_string();
    }
    WriteBatch {
        users,
        posts,
        ..WriteBatch::default()
    }
}

/// An answerer over `store` with both indices built and every post
/// embedded, and the LLM behind a gateway when `with_llm`.
async fn answerer(db: &TestDb, store: &Store, dir: &std::path::Path, with_llm: bool) -> Answerer {
    let mut config = Config::defaults();
    config.search.index_dir = Some(dir.to_path_buf());
    if let Some(schema) = db.schema() {
        config.database.schema = Some(schema.to_string());
    }
    let searcher = open_searcher(&config, store, embedder(), &JobHandle::new())
        .await
        .expect("the indices open");
    let options = RefreshOptions {
        rebuild: false,
        save: false,
        embed: true,
    };
    refresh(&searcher, options, &JobHandle::new())
        .await
        .expect("embedded and indexed");
    let gateway = if with_llm {
        llm().map(|llm| Gateway::new(llm, store.clone(), Vec::new()))
    } else {
        None
    };
    let options = AskOptions {
        // Small drafts keep the test quick on a CPU.
        max_tokens: 48,
        ..steward_runtime::ask::options(&config.ask)
    };
    Answerer::new(searcher, gateway, options)
}

fn asker() -> Asker {
    Asker {
        role: "member".to_string(),
        key_id: Some("test-key".to_string()),
    }
}

async fn ask(answerer: &Answerer, question: &str, use_llm: bool) -> AskResponse {
    let request = AskRequest {
        question: question.to_string(),
        tags: Vec::new(),
        use_llm,
    };
    answerer
        .ask(&request, &asker(), None, &CancellationToken::new())
        .await
        .expect("an answer")
}

/// Every citation and marker names a returned passage whose post exists.
async fn assert_citations_resolve(store: &Store, response: &AskResponse) {
    let ids: Vec<PostId> = response.passages.iter().map(|p| p.post_id).collect();
    let exists: HashSet<PostId> = store.existing_posts(&ids).await.expect("read");
    let (resolved, total) = check_citations(response, &exists);
    assert_eq!(resolved, total, "{response:#?}");
    for marker in sentences::marker_numbers(&response.answer) {
        assert!(
            response
                .citations
                .iter()
                .any(|citation| citation.n == marker),
            "[{marker}] is not among the citations: {response:#?}"
        );
    }
}

fn threads_cited(response: &AskResponse) -> Vec<i64> {
    response
        .citations
        .iter()
        .map(|citation| citation.thread_id.0)
        .collect()
}

#[tokio::test]
async fn english_and_chinese_questions_are_answered_in_their_language_and_logged() {
    if embedder().is_none() || llm().is_none() {
        return;
    }
    on_every_backend(|db| async move {
        let store = db.open().await;
        store.write(&community()).await.expect("written");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let answerer = answerer(&db, &store, dir.path(), true).await;

        let english = ask(&answerer, "How can I undo my last git commit?", true).await;
        assert!(!english.refused, "{english:#?}");
        assert_ne!(english.mode, AnswerMode::Refused);
        assert_eq!(english.language, "en");
        assert!(language_follows("en", &english.answer), "{english:#?}");
        assert!(!english.citations.is_empty(), "{english:#?}");
        assert!(threads_cited(&english).contains(&1), "{english:#?}");
        assert_eq!(
            english.model.as_deref(),
            Some(answerer.model().expect("a model"))
        );
        assert!(english.tokens.prompt > 0, "{english:#?}");
        assert_citations_resolve(&store, &english).await;
        // Every shown sentence is supported and cited.
        for sentence in &english.sentences {
            assert!(!sentence.citations.is_empty(), "{english:#?}");
        }

        let chinese = ask(&answerer, "怎样为经常查询的列创建索引？", true).await;
        assert!(!chinese.refused, "{chinese:#?}");
        assert_eq!(chinese.language, "zh");
        assert!(language_follows("zh", &chinese.answer), "{chinese:#?}");
        assert!(
            chinese
                .answer
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{chinese:#?}"
        );
        assert_eq!(threads_cited(&chinese), [4], "{chinese:#?}");
        assert_citations_resolve(&store, &chinese).await;

        // One answer-log row per ask, and an audit row naming it.
        let logged = store.answer_log(10).await.expect("the log");
        assert_eq!(logged.len(), 2);
        for response in [&english, &chinese] {
            let row = store
                .logged_answer(&response.id)
                .await
                .expect("read")
                .expect("logged");
            assert_eq!(row.mode, response.mode.as_str());
            assert_eq!(row.question, response.question);
            assert_eq!(row.answer, response.answer);
            assert_eq!(row.role, "member");
            assert_eq!(row.key_id.as_deref(), Some("test-key"));
            assert_eq!(row.model, response.model);
            assert_eq!(
                row.passages.as_array().map(Vec::len),
                Some(response.passages.len())
            );
        }
        let calls = store
            .llm_calls_since(steward_testkit::fixtures::at(0), 100)
            .await
            .expect("the audit log");
        for response in [&english, &chinese] {
            let call = calls
                .iter()
                .find(|call| call.object_ids.contains(&format!("answer:{}", response.id)))
                .unwrap_or_else(|| panic!("no audit row for {}: {calls:#?}", response.id));
            assert_eq!(call.feature, "ask");
            assert_eq!(call.role, "member");
            for passage in &response.passages {
                assert!(
                    call.object_ids
                        .contains(&format!("post:{}", passage.post_id))
                );
            }
        }
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_question_the_community_cannot_answer_is_refused_with_who_could_answer() {
    if embedder().is_none() {
        return;
    }
    on_every_backend(|db| async move {
        let store = db.open().await;
        store.write(&community()).await.expect("written");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let answerer = answerer(&db, &store, dir.path(), false).await;

        let refused = ask(
            &answerer,
            "What is the best recipe for sourdough bread?",
            true,
        )
        .await;
        assert!(refused.refused, "{refused:#?}");
        assert_eq!(refused.mode, AnswerMode::Refused);
        assert!(refused.answer.is_empty());
        assert!(refused.citations.is_empty());
        assert!(refused.evidence.best_support < refused.evidence.min_support);
        assert!(refused.evidence.dense, "{refused:#?}");
        assert!(
            refused
                .reason
                .as_deref()
                .is_some_and(|reason| reason.contains("no grounded answer")),
            "{refused:#?}"
        );
        assert!(!refused.closest_threads.is_empty(), "{refused:#?}");
        assert!(!refused.could_answer.is_empty(), "{refused:#?}");
        for expert in &refused.could_answer {
            assert!(expert.name.is_some(), "{expert:?}");
            assert!(expert.answers >= 1);
        }
        let row = store
            .logged_answer(&refused.id)
            .await
            .expect("read")
            .expect("logged");
        assert_eq!(row.mode, "refused");
        assert!(row.answer.contains("no grounded answer"));

        // The same community answers what it can, extractively without a model.
        let answered = ask(
            &answerer,
            "Where should my docker database keep its data?",
            false,
        )
        .await;
        assert_eq!(answered.mode, AnswerMode::Extractive, "{answered:#?}");
        assert_eq!(threads_cited(&answered), [2], "{answered:#?}");
        assert!(answered.answer.contains("volume"), "{answered:#?}");
        assert!(answered.model.is_none());
        assert_citations_resolve(&store, &answered).await;
        store.close().await;
    })
    .await;
}

#[tokio::test]
async fn attribution_with_real_embeddings_keeps_copied_and_drops_invented_sentences() {
    let Some(embedder) = embedder() else { return };
    let passages = [
        "Use git reset --soft HEAD~1 to undo the last commit. The changes of that commit stay staged.",
        "Keep the data in a Docker volume. A volume lives outside the container.",
    ];
    let draft = "Use git reset --soft HEAD~1 to undo the last commit [2]. \
                 Then open the settings page and click the blue button to reset your password.";
    let drafted = sentences::split(draft);
    assert_eq!(drafted.len(), 2);
    let mut evidence: Vec<PassageEvidence> = passages
        .iter()
        .map(|text| PassageEvidence::new(text))
        .collect();
    for passage in &mut evidence {
        let chunks: Vec<&str> = passage.chunks.iter().map(String::as_str).collect();
        passage.chunk_vectors = embedder.embed(&chunks, Purpose::Passage).expect("vectors");
    }
    let texts: Vec<String> = drafted
        .iter()
        .map(|sentence| sentences::strip_markers(&sentence.text).0)
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = embedder.embed(&refs, Purpose::Passage).expect("vectors");
    let found = attribute(
        &drafted,
        &vectors,
        &evidence,
        AskOptions::default().sentence_support,
    );
    // Copied from passage 1, mis-cited by the model as [2]: kept, repaired to [1].
    assert!(found[0].kept, "{found:?}");
    assert_eq!(found[0].model_markers, [2]);
    assert_eq!(found[0].citations, [1]);
    // Nothing supports the second: dropped.
    assert!(!found[1].kept, "{found:?}");
    assert!(found[1].citations.is_empty());
}
