//! Synthetic community generator: writes a Stack Exchange style dump (Users,
//! Posts, Comments, Votes, PostLinks, Tags, Badges) for demos, tests and the
//! import benchmark, with no real data needed.
//!
//! The community has the shape real ones have: ~40 tags with Zipf
//! popularity, users with a few tag interests and heavily skewed activity,
//! answers mostly from users who follow the tag, accepted answers on about
//! half of the answered questions, favorites, duplicates and ~10% Chinese
//! threads. Output is streamed (memory stays bounded by the number of users and
//! questions, a few bytes each) and deterministic: the same config gives
//! byte-identical files on every platform (ChaCha8).

mod corpus;
mod error;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Timelike};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use error::{Error, Result};

use corpus::{CodeLanguage, TAGS, TagTopic};

/// What community to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleConfig {
    pub users: u32,
    pub seed: u64,
    /// Number of questions; `None` derives it from `users` (3 per 5 users),
    /// or, with `target_posts_bytes`, keeps going until that size.
    pub questions: Option<u64>,
    /// Stop once `Posts.xml` holds at least this many bytes (benchmarks).
    pub target_posts_bytes: Option<u64>,
    /// Share of questions written in Chinese, 0..=1.
    pub chinese_share: f64,
}

impl SampleConfig {
    pub fn new(users: u32, seed: u64) -> SampleConfig {
        SampleConfig {
            users,
            seed,
            questions: None,
            target_posts_bytes: None,
            chinese_share: 0.1,
        }
    }

    fn question_limit(&self) -> u64 {
        match (self.questions, self.target_posts_bytes) {
            (Some(questions), _) => questions,
            (None, Some(_)) => u64::MAX,
            (None, None) => (u64::from(self.users) * 3 / 5).max(1),
        }
    }
}

/// One file written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleFile {
    pub name: String,
    pub rows: u64,
    pub bytes: u64,
}

/// What was generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleSummary {
    pub out_dir: PathBuf,
    pub files: Vec<SampleFile>,
    pub users: u64,
    pub questions: u64,
    pub chinese_questions: u64,
    pub answers: u64,
    pub accepted_answers: u64,
    pub comments: u64,
    pub votes: u64,
    pub favorites: u64,
    pub post_links: u64,
    pub duplicate_links: u64,
    pub badges: u64,
    pub tags: u64,
}

impl SampleSummary {
    pub fn file(&self, name: &str) -> Option<&SampleFile> {
        self.files.iter().find(|file| file.name == name)
    }
}

/// 2020-01-01T00:00:00Z: the community opens.
const EPOCH_SECONDS: i64 = 1_577_836_800;
/// Mean time between two questions.
const QUESTION_INTERVAL_SECONDS: i64 = 2_100;

/// Writes the sample community into `out_dir` (created if missing).
pub fn generate(out_dir: &Path, config: &SampleConfig) -> Result<SampleSummary> {
    if config.users < 2 {
        return Err(Error::InvalidConfig(format!(
            "a community needs at least 2 users, got {}",
            config.users
        )));
    }
    if !(0.0..=1.0).contains(&config.chinese_share) {
        return Err(Error::InvalidConfig(format!(
            "chinese_share must be between 0 and 1, got {}",
            config.chinese_share
        )));
    }
    std::fs::create_dir_all(out_dir).map_err(|source| Error::io("creating", out_dir, source))?;
    let mut generator = Generator::new(out_dir, config)?;
    generator.write_users()?;
    generator.write_tag_wikis()?;
    generator.write_threads(config)?;
    generator.finish()
}

/// Cumulative weights for sampling an index in O(log n).
#[derive(Debug, Default)]
struct Weighted {
    cumulative: Vec<f64>,
}

impl Weighted {
    fn new(weights: impl IntoIterator<Item = f64>) -> Weighted {
        let mut total = 0.0;
        let cumulative = weights
            .into_iter()
            .map(|weight| {
                total += weight;
                total
            })
            .collect();
        Weighted { cumulative }
    }

    fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let target = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|&cumulative| cumulative <= target)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

/// Per-user state: who they are and what they did (for badges).
#[derive(Debug, Clone)]
struct SampleUser {
    chinese: bool,
    interests: Vec<usize>,
    questions: u32,
    answers: u32,
    accepted_answers: u32,
    answers_in_first_interest: u32,
    last_active: i64,
}

/// One answer before it is written.
struct DraftAnswer {
    id: i64,
    owner: usize,
    created: i64,
    body: String,
    score: i64,
}

/// A dump file being written, row by row.
struct XmlFile {
    name: &'static str,
    root: &'static str,
    path: PathBuf,
    writer: BufWriter<File>,
    rows: u64,
    bytes: u64,
}

impl XmlFile {
    fn create(dir: &Path, name: &'static str, root: &'static str) -> Result<XmlFile> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| Error::io("creating", &path, source))?;
        let mut xml_file = XmlFile {
            name,
            root,
            path,
            writer: BufWriter::with_capacity(1 << 20, file),
            rows: 0,
            bytes: 0,
        };
        let header = format!("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{root}>\n");
        xml_file.write_raw(&header)?;
        Ok(xml_file)
    }

    fn write_raw(&mut self, text: &str) -> Result<()> {
        self.bytes += text.len() as u64;
        self.writer
            .write_all(text.as_bytes())
            .map_err(|source| Error::io("writing", &self.path, source))
    }

    fn write_row(&mut self, row: &RowBuilder) -> Result<()> {
        self.rows += 1;
        let text = row.finish();
        self.bytes += text.len() as u64;
        self.writer
            .write_all(text.as_bytes())
            .map_err(|source| Error::io("writing", &self.path, source))
    }

    fn finish(mut self) -> Result<SampleFile> {
        let footer = format!("</{}>\n", self.root);
        self.write_raw(&footer)?;
        self.writer
            .flush()
            .map_err(|source| Error::io("writing", &self.path, source))?;
        Ok(SampleFile {
            name: self.name.to_string(),
            rows: self.rows,
            bytes: self.bytes,
        })
    }
}

/// Builds one `<row .../>` line with escaped attribute values.
struct RowBuilder {
    line: String,
}

impl RowBuilder {
    fn new() -> RowBuilder {
        RowBuilder {
            line: String::with_capacity(4096),
        }
    }

    fn start(&mut self) -> &mut RowBuilder {
        self.line.clear();
        self.line.push_str("  <row");
        self
    }

    fn int(&mut self, name: &str, value: i64) -> &mut RowBuilder {
        let _ = write!(self.line, " {name}=\"{value}\"");
        self
    }

    fn text(&mut self, name: &str, value: &str) -> &mut RowBuilder {
        let _ = write!(self.line, " {name}=\"");
        for character in value.chars() {
            match character {
                '&' => self.line.push_str("&amp;"),
                '<' => self.line.push_str("&lt;"),
                '>' => self.line.push_str("&gt;"),
                '"' => self.line.push_str("&quot;"),
                '\n' => self.line.push_str("&#xA;"),
                '\r' => self.line.push_str("&#xD;"),
                other => self.line.push(other),
            }
        }
        self.line.push('"');
        self
    }

    /// A dump time: `2016-08-02T15:39:14.947`, UTC without a zone.
    fn date(&mut self, name: &str, seconds: i64, millis: i64) -> &mut RowBuilder {
        let at = chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default();
        let _ = write!(
            self.line,
            " {name}=\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}\"",
            at.year(),
            at.month(),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            millis.rem_euclid(1000)
        );
        self
    }

    fn finish(&self) -> String {
        format!("{} />\n", self.line)
    }
}

struct Generator {
    rng: ChaCha8Rng,
    dir: PathBuf,
    users: Vec<SampleUser>,
    users_by_activity: Weighted,
    chinese_users: Vec<usize>,
    chinese_by_activity: Weighted,
    /// Per tag: users interested in it and their activity weights.
    tag_users: Vec<(Vec<usize>, Weighted)>,
    tag_popularity: Weighted,
    /// Per tag: ids of its questions so far (for duplicate and related links).
    tag_questions: Vec<Vec<i64>>,
    tag_counts: Vec<i64>,
    posts: XmlFile,
    comments: XmlFile,
    votes: XmlFile,
    links: XmlFile,
    row: RowBuilder,
    next_post_id: i64,
    next_comment_id: i64,
    next_vote_id: i64,
    next_link_id: i64,
    summary: SampleSummary,
    /// User files written before the threads.
    users_file: Option<SampleFile>,
}

impl Generator {
    fn new(dir: &Path, config: &SampleConfig) -> Result<Generator> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let tag_popularity = Weighted::new((0..TAGS.len()).map(|rank| 1.0 / (rank as f64 + 1.0)));
        let mut users = Vec::with_capacity(config.users as usize);
        let mut activity = Vec::with_capacity(config.users as usize);
        for _ in 0..config.users {
            let chinese = rng.random_bool(config.chinese_share);
            let n_interests = rng.random_range(1..=3);
            let mut interests: Vec<usize> = Vec::with_capacity(n_interests);
            while interests.len() < n_interests {
                let tag = tag_popularity.sample(&mut rng);
                if !interests.contains(&tag) {
                    interests.push(tag);
                }
            }
            // Pareto-like: a few users do most of the work.
            let uniform: f64 = rng.random_range(0.001..1.0);
            activity.push(uniform.powf(-0.8));
            users.push(SampleUser {
                chinese,
                interests,
                questions: 0,
                answers: 0,
                accepted_answers: 0,
                answers_in_first_interest: 0,
                last_active: EPOCH_SECONDS,
            });
        }
        let chinese_users: Vec<usize> =
            (0..users.len()).filter(|&idx| users[idx].chinese).collect();
        let chinese_by_activity = Weighted::new(chinese_users.iter().map(|&idx| activity[idx]));
        let tag_users = (0..TAGS.len())
            .map(|tag| {
                let members: Vec<usize> = (0..users.len())
                    .filter(|&idx| users[idx].interests.contains(&tag))
                    .collect();
                let weights = Weighted::new(members.iter().map(|&idx| activity[idx]));
                (members, weights)
            })
            .collect();
        Ok(Generator {
            users_by_activity: Weighted::new(activity.iter().copied()),
            rng,
            dir: dir.to_path_buf(),
            users,
            chinese_users,
            chinese_by_activity,
            tag_users,
            tag_popularity,
            tag_questions: vec![Vec::new(); TAGS.len()],
            tag_counts: vec![0; TAGS.len()],
            posts: XmlFile::create(dir, "Posts.xml", "posts")?,
            comments: XmlFile::create(dir, "Comments.xml", "comments")?,
            votes: XmlFile::create(dir, "Votes.xml", "votes")?,
            links: XmlFile::create(dir, "PostLinks.xml", "postlinks")?,
            row: RowBuilder::new(),
            next_post_id: 1,
            next_comment_id: 1,
            next_vote_id: 1,
            next_link_id: 1,
            summary: SampleSummary {
                out_dir: dir.to_path_buf(),
                files: Vec::new(),
                users: u64::from(config.users),
                questions: 0,
                chinese_questions: 0,
                answers: 0,
                accepted_answers: 0,
                comments: 0,
                votes: 0,
                favorites: 0,
                post_links: 0,
                duplicate_links: 0,
                badges: 0,
                tags: TAGS.len() as u64,
            },
            users_file: None,
        })
    }

    fn pick<'a>(&mut self, choices: &'a [&'a str]) -> &'a str {
        choices[self.rng.random_range(0..choices.len())]
    }

    fn write_users(&mut self) -> Result<()> {
        let mut file = XmlFile::create(&self.dir, "Users.xml", "users")?;
        for user_idx in 0..self.users.len() {
            let created = EPOCH_SECONDS - self.rng.random_range(0..400 * 86_400);
            let name = if self.users[user_idx].chinese {
                self.pick(corpus::CHINESE_NAMES).to_string()
            } else {
                let first = self.pick(corpus::FIRST_NAMES);
                let last = self.pick(corpus::LAST_NAMES);
                if self.rng.random_bool(0.3) {
                    format!("{first}{}", self.rng.random_range(1..1000))
                } else {
                    format!("{first} {last}")
                }
            };
            let reputation = 1 + self.rng.random_range(0..50)
                * (1 + self.users[user_idx].interests.len() as i64);
            let location = self
                .rng
                .random_bool(0.6)
                .then(|| self.pick(corpus::LOCATIONS));
            let about = self.rng.random_bool(0.3).then(|| {
                let tag = TAGS[self.users[user_idx].interests[0]].name;
                if self.users[user_idx].chinese {
                    format!("<p>软件工程师，主要关注 {tag}。</p>")
                } else {
                    format!("<p>Software engineer, mostly working with <strong>{tag}</strong>.</p>")
                }
            });
            let millis = self.rng.random_range(0..1000);
            let row = self.row.start();
            row.int("Id", user_idx as i64 + 1)
                .int("Reputation", reputation)
                .date("CreationDate", created, millis)
                .text("DisplayName", &name)
                .date("LastAccessDate", created + 86_400 * 30, millis);
            if let Some(location) = location {
                row.text("Location", location);
            }
            if let Some(about) = &about {
                row.text("AboutMe", about);
            }
            row.int("Views", 0)
                .int("UpVotes", 0)
                .int("DownVotes", 0)
                .int("AccountId", user_idx as i64 + 1000);
            file.write_row(&self.row)?;
        }
        self.users_file = Some(file.finish()?);
        Ok(())
    }

    /// Tag wiki excerpt (`PostTypeId` 4) and wiki (5) posts, ids 1..=80,
    /// named by `Tags.xml`.
    fn write_tag_wikis(&mut self) -> Result<()> {
        let created = EPOCH_SECONDS - 30 * 86_400;
        for topic in TAGS {
            let excerpt_id = self.next_post_id;
            self.row
                .start()
                .int("Id", excerpt_id)
                .int("PostTypeId", 4)
                .date("CreationDate", created, 0)
                .int("Score", 0)
                .text("Body", topic.summary)
                .date("LastActivityDate", created, 0)
                .int("CommentCount", 0)
                .text("ContentLicense", "CC BY-SA 4.0");
            self.posts.write_row(&self.row)?;
            let wiki = format!(
                "<p>{}</p>\n<p>Use this tag for questions about {}, for example the {} or the {}.</p>",
                topic.summary, topic.name, topic.things[0], topic.things[1]
            );
            self.row
                .start()
                .int("Id", excerpt_id + 1)
                .int("PostTypeId", 5)
                .date("CreationDate", created, 0)
                .int("Score", 0)
                .text("Body", &wiki)
                .date("LastActivityDate", created, 0)
                .int("CommentCount", 0)
                .text("ContentLicense", "CC BY-SA 4.0");
            self.posts.write_row(&self.row)?;
            self.next_post_id += 2;
        }
        Ok(())
    }

    fn write_threads(&mut self, config: &SampleConfig) -> Result<()> {
        let limit = config.question_limit();
        let mut question_idx: u64 = 0;
        while question_idx < limit {
            if let Some(target) = config.target_posts_bytes
                && self.posts.bytes >= target
            {
                break;
            }
            let chinese = self.rng.random_bool(config.chinese_share);
            self.write_thread(question_idx, chinese)?;
            question_idx += 1;
        }
        Ok(())
    }

    fn pick_user(&mut self, tag: usize, chinese: bool, tag_share: f64) -> usize {
        if chinese && !self.chinese_by_activity.is_empty() && self.rng.random_bool(0.7) {
            return self.chinese_users[self.chinese_by_activity.sample(&mut self.rng)];
        }
        if self.rng.random_bool(tag_share) && !self.tag_users[tag].1.is_empty() {
            let (members, weights) = &self.tag_users[tag];
            return members[weights.sample(&mut self.rng)];
        }
        self.users_by_activity.sample(&mut self.rng)
    }

    fn write_thread(&mut self, question_idx: u64, chinese: bool) -> Result<()> {
        let primary_tag = self.tag_popularity.sample(&mut self.rng);
        let mut tags = vec![primary_tag];
        for _ in 0..self.rng.random_range(0..=2) {
            let extra = self.tag_popularity.sample(&mut self.rng);
            if !tags.contains(&extra) {
                tags.push(extra);
            }
        }
        let asker = self.pick_user(primary_tag, chinese, 0.5);
        let created = EPOCH_SECONDS
            + question_idx as i64 * QUESTION_INTERVAL_SECONDS
            + self.rng.random_range(0..QUESTION_INTERVAL_SECONDS);
        let question_id = self.next_post_id;
        self.next_post_id += 1;
        let topic = &TAGS[primary_tag];
        let title = self.question_title(topic, chinese);
        let body = self.question_body(topic, chinese);

        // Answers, from users who follow the tag more often than not.
        let n_answers = match self.rng.random_range(0..100) {
            0..18 => 0,
            18..53 => 1,
            53..78 => 2,
            78..90 => 3,
            _ => self.rng.random_range(4..=6),
        };
        let mut answers = Vec::with_capacity(n_answers);
        for _ in 0..n_answers {
            let mut owner = self.pick_user(primary_tag, chinese, 0.8);
            if owner == asker {
                owner = (owner + 1) % self.users.len();
            }
            let delay = (self.rng.random::<f64>().powi(3) * 7.0 * 86_400.0) as i64 + 120;
            let answer_chinese = chinese && self.rng.random_bool(0.9);
            let body = self.answer_body(topic, answer_chinese);
            let score = self.vote_score(4.0);
            answers.push(DraftAnswer {
                id: self.next_post_id,
                owner,
                created: created + delay,
                body,
                score,
            });
            self.next_post_id += 1;
        }
        let accepted = if !answers.is_empty() && self.rng.random_bool(0.55) {
            let best = answers
                .iter()
                .enumerate()
                .max_by_key(|(idx, answer)| (answer.score, usize::MAX - idx))
                .map(|(idx, _)| idx)
                .unwrap_or(0);
            Some(if self.rng.random_bool(0.8) {
                best
            } else {
                self.rng.random_range(0..answers.len())
            })
        } else {
            None
        };

        // Links to earlier questions of the same tag.
        let earlier = self.tag_questions[primary_tag].len();
        let mut closed_at = None;
        if earlier > 5 {
            let roll = self.rng.random_range(0..100);
            let link_type = match roll {
                0..3 => Some(3),
                3..9 => Some(1),
                _ => None,
            };
            if let Some(link_type) = link_type {
                let target = self.tag_questions[primary_tag][self.rng.random_range(0..earlier)];
                let linked_at = created + 86_400;
                if link_type == 3 {
                    closed_at = Some(linked_at);
                    self.summary.duplicate_links += 1;
                }
                self.row
                    .start()
                    .int("Id", self.next_link_id)
                    .date("CreationDate", linked_at, 0)
                    .int("PostId", question_id)
                    .int("RelatedPostId", target)
                    .int("LinkTypeId", link_type);
                self.links.write_row(&self.row)?;
                self.next_link_id += 1;
                self.summary.post_links += 1;
            }
        }
        self.tag_questions[primary_tag].push(question_id);
        for &tag in &tags {
            self.tag_counts[tag] += 1;
        }

        // Votes and comments of the question.
        let question_score = self.vote_score(3.0);
        let n_favorites = match self.rng.random_range(0..100) {
            0..70 => 0,
            70..90 => 1,
            90..97 => 2,
            _ => 3,
        };
        self.write_votes(question_id, question_score, created)?;
        for _ in 0..n_favorites {
            let user = self.pick_user(primary_tag, chinese, 0.6);
            self.write_user_vote(question_id, 5, user, created)?;
            self.summary.favorites += 1;
        }
        if self.rng.random_bool(0.01) {
            self.write_user_vote(question_id, 8, asker, created)?;
        }
        let question_comments =
            self.write_comments(question_id, created, chinese, primary_tag, Some(asker))?;
        let mut last_activity = created;

        let tag_list: String = tags
            .iter()
            .map(|&tag| format!("<{}>", TAGS[tag].name))
            .collect();
        let view_count = 15 + question_score.max(0) * 40 + self.rng.random_range(0..300);
        let last_answer_at = answers
            .iter()
            .map(|answer| answer.created)
            .max()
            .unwrap_or(created);
        last_activity = last_activity.max(last_answer_at);
        let millis = self.rng.random_range(0..1000);
        let row = self.row.start();
        row.int("Id", question_id).int("PostTypeId", 1);
        if let Some(accepted_idx) = accepted {
            row.int("AcceptedAnswerId", answers[accepted_idx].id);
        }
        row.date("CreationDate", created, millis)
            .int("Score", question_score)
            .int("ViewCount", view_count)
            .text("Body", &body)
            .int("OwnerUserId", asker as i64 + 1)
            .date("LastActivityDate", last_activity, millis)
            .text("Title", &title)
            .text("Tags", &tag_list)
            .int("AnswerCount", answers.len() as i64)
            .int("CommentCount", question_comments)
            .int("FavoriteCount", n_favorites);
        if let Some(closed_at) = closed_at {
            row.date("ClosedDate", closed_at, 0);
        }
        row.text("ContentLicense", "CC BY-SA 4.0");
        self.posts.write_row(&self.row)?;
        self.summary.questions += 1;
        self.summary.chinese_questions += u64::from(chinese);
        self.users[asker].questions += 1;
        self.users[asker].last_active = self.users[asker].last_active.max(created);

        for (answer_idx, answer) in answers.iter().enumerate() {
            self.write_votes(answer.id, answer.score, answer.created)?;
            if accepted == Some(answer_idx) {
                self.write_anonymous_vote(answer.id, 1, answer.created + 3_600)?;
            }
            let comments =
                self.write_comments(answer.id, answer.created, chinese, primary_tag, Some(asker))?;
            let millis = self.rng.random_range(0..1000);
            self.row
                .start()
                .int("Id", answer.id)
                .int("PostTypeId", 2)
                .int("ParentId", question_id)
                .date("CreationDate", answer.created, millis)
                .int("Score", answer.score)
                .text("Body", &answer.body)
                .int("OwnerUserId", answer.owner as i64 + 1)
                .date("LastActivityDate", answer.created, millis)
                .int("CommentCount", comments)
                .text("ContentLicense", "CC BY-SA 4.0");
            self.posts.write_row(&self.row)?;
            self.summary.answers += 1;
            let user = &mut self.users[answer.owner];
            user.answers += 1;
            user.last_active = user.last_active.max(answer.created);
            if user.interests[0] == primary_tag {
                user.answers_in_first_interest += 1;
            }
            if accepted == Some(answer_idx) {
                user.accepted_answers += 1;
                self.summary.accepted_answers += 1;
            }
        }
        Ok(())
    }

    /// A post score drawn from a skewed distribution around `mean_up` up votes.
    fn vote_score(&mut self, mean_up: f64) -> i64 {
        let up = (self.rng.random::<f64>().powi(2) * mean_up * 2.5) as i64;
        let down = i64::from(self.rng.random_bool(0.15)) + i64::from(self.rng.random_bool(0.03));
        up - down
    }

    /// Anonymous up and down votes adding up to `score`.
    fn write_votes(&mut self, post_id: i64, score: i64, created: i64) -> Result<()> {
        let down = if score < 0 {
            -score
        } else {
            i64::from(self.rng.random_bool(0.1))
        };
        let up = score + down;
        for _ in 0..up {
            let at = created + self.rng.random_range(0..30 * 86_400);
            self.write_anonymous_vote(post_id, 2, at)?;
        }
        for _ in 0..down {
            let at = created + self.rng.random_range(0..30 * 86_400);
            self.write_anonymous_vote(post_id, 3, at)?;
        }
        Ok(())
    }

    fn write_anonymous_vote(&mut self, post_id: i64, vote_type: i64, at: i64) -> Result<()> {
        let day = at - at.rem_euclid(86_400);
        self.row
            .start()
            .int("Id", self.next_vote_id)
            .int("PostId", post_id)
            .int("VoteTypeId", vote_type)
            .date("CreationDate", day, 0);
        self.votes.write_row(&self.row)?;
        self.next_vote_id += 1;
        self.summary.votes += 1;
        Ok(())
    }

    fn write_user_vote(
        &mut self,
        post_id: i64,
        vote_type: i64,
        user: usize,
        created: i64,
    ) -> Result<()> {
        let at = created + self.rng.random_range(0..60 * 86_400);
        let day = at - at.rem_euclid(86_400);
        self.row
            .start()
            .int("Id", self.next_vote_id)
            .int("PostId", post_id)
            .int("VoteTypeId", vote_type)
            .int("UserId", user as i64 + 1)
            .date("CreationDate", day, 0);
        self.votes.write_row(&self.row)?;
        self.next_vote_id += 1;
        self.summary.votes += 1;
        Ok(())
    }

    /// 0-3 comments under a post; returns how many.
    fn write_comments(
        &mut self,
        post_id: i64,
        created: i64,
        chinese: bool,
        tag: usize,
        asker: Option<usize>,
    ) -> Result<i64> {
        let n_comments = match self.rng.random_range(0..100) {
            0..55 => 0,
            55..80 => 1,
            80..92 => 2,
            _ => 3,
        };
        for _ in 0..n_comments {
            let author = match asker {
                Some(asker) if self.rng.random_bool(0.3) => asker,
                _ => self.pick_user(tag, chinese, 0.5),
            };
            let text = if chinese && self.rng.random_bool(0.85) {
                self.pick(corpus::COMMENTS_ZH).to_string()
            } else {
                self.pick(corpus::COMMENTS).to_string()
            };
            let at = created + self.rng.random_range(60..3 * 86_400);
            let millis = self.rng.random_range(0..1000);
            let score = i64::from(self.rng.random_bool(0.2));
            self.row
                .start()
                .int("Id", self.next_comment_id)
                .int("PostId", post_id)
                .int("Score", score)
                .text("Text", &text)
                .date("CreationDate", at, millis)
                .int("UserId", author as i64 + 1)
                .text("ContentLicense", "CC BY-SA 4.0");
            self.comments.write_row(&self.row)?;
            self.next_comment_id += 1;
            self.summary.comments += 1;
        }
        Ok(n_comments)
    }

    fn question_title(&mut self, topic: &TagTopic, chinese: bool) -> String {
        let thing_idx = self.rng.random_range(0..topic.things.len());
        let other_idx =
            (thing_idx + 1 + self.rng.random_range(0..topic.things.len() - 1)) % topic.things.len();
        let template = self.rng.random_range(0..6);
        if chinese {
            let thing = topic.things_zh[thing_idx];
            let other = topic.things_zh[other_idx];
            let action = self.pick(corpus::ACTIONS_ZH);
            let problem = self.pick(corpus::PROBLEMS_ZH);
            match template {
                0 => format!("如何在 {} 中{action}{thing}？", topic.name),
                1 => format!("为什么我的{thing}这么慢？"),
                2 => format!("{thing}和{other}有什么区别？"),
                3 => format!("{} 的{thing}问题：{problem}", topic.name),
                4 => format!("{action}{thing}的最佳方式是什么？"),
                _ => format!("在多个请求之间复用{thing}安全吗？"),
            }
        } else {
            let thing = topic.things[thing_idx];
            let other = topic.things[other_idx];
            let action = self.pick(corpus::ACTIONS);
            match template {
                0 => format!("How do I {action} a {thing} in {}?", topic.name),
                1 => format!("Why is my {thing} so slow?"),
                2 => format!("What is the difference between a {thing} and a {other}?"),
                3 => format!(
                    "{}: {thing} returns an empty result after upgrading",
                    topic.name
                ),
                4 => format!("Best way to {action} a {thing} with {}", topic.name),
                _ => format!("Is it safe to reuse a {thing} across requests?"),
            }
        }
    }

    fn code_block(&mut self, language: CodeLanguage) -> String {
        let identifier = self.pick(corpus::IDENTIFIERS);
        let variant = self.rng.random_range(0..3);
        let code = corpus::code_snippet(language, variant, identifier);
        format!("<pre><code>{}</code></pre>", escape_html(&code))
    }

    fn question_body(&mut self, topic: &TagTopic, chinese: bool) -> String {
        let thing_idx = self.rng.random_range(0..topic.things.len());
        let identifier = self.pick(corpus::IDENTIFIERS);
        let mut body = String::with_capacity(1024);
        if chinese {
            let action = self.pick(corpus::ACTIONS_ZH);
            let problem = self.pick(corpus::PROBLEMS_ZH);
            let tried = self.pick(corpus::TRIED_ZH);
            let _ = writeln!(
                body,
                "<p>我在 {} 项目里想要{action}{}，但是{problem}。</p>",
                topic.name, topic.things_zh[thing_idx]
            );
            if self.rng.random_bool(0.5) {
                let _ = writeln!(body, "<p>{tried}</p>");
            }
            if self.rng.random_bool(0.7) {
                body.push_str(&self.code_block(topic.code));
                body.push('\n');
            }
            let _ = write!(
                body,
                "<p>调用 <code>{identifier}</code> 的时候问题最明显。请问应该怎么解决？谢谢！</p>"
            );
        } else {
            let action = self.pick(corpus::ACTIONS);
            let problem = self.pick(corpus::PROBLEMS);
            let tried = self.pick(corpus::TRIED);
            let _ = writeln!(
                body,
                "<p>I'm trying to {action} a {} in my {} project, but {problem}.</p>",
                topic.things[thing_idx], topic.name
            );
            if self.rng.random_bool(0.5) {
                let _ = writeln!(body, "<p>{tried}</p>");
            }
            if self.rng.random_bool(0.7) {
                body.push_str(&self.code_block(topic.code));
                body.push('\n');
            }
            let closing = if self.rng.random_bool(0.5) {
                "What am I missing?"
            } else {
                "Any pointers are appreciated."
            };
            let _ = write!(
                body,
                "<p>It happens as soon as I call <code>{identifier}</code> with <em>real</em> data. {closing}</p>"
            );
        }
        body
    }

    fn answer_body(&mut self, topic: &TagTopic, chinese: bool) -> String {
        let thing_idx = self.rng.random_range(0..topic.things.len());
        let identifier = self.pick(corpus::IDENTIFIERS);
        let mut body = String::with_capacity(1024);
        let (openings, closings, thing) = if chinese {
            (
                corpus::ANSWER_OPENINGS_ZH,
                corpus::ANSWER_CLOSINGS_ZH,
                topic.things_zh[thing_idx],
            )
        } else {
            (
                corpus::ANSWER_OPENINGS,
                corpus::ANSWER_CLOSINGS,
                topic.things[thing_idx],
            )
        };
        let opening = self.pick(openings).replace("{thing}", thing);
        let _ = writeln!(body, "<p>{opening}</p>");
        if self.rng.random_bool(0.6) {
            body.push_str(if chinese {
                "<p>可以试试这样写：</p>\n"
            } else {
                "<p>Try this instead:</p>\n"
            });
            body.push_str(&self.code_block(topic.code));
            body.push('\n');
        }
        let closing = self.pick(closings);
        if chinese {
            let _ = write!(
                body,
                "<p>注意 <code>{identifier}</code> 只需要初始化一次。{closing}</p>"
            );
        } else {
            let _ = write!(
                body,
                "<p>Note that <code>{identifier}</code> only needs to be set up once. {closing}</p>"
            );
        }
        body
    }

    fn finish(mut self) -> Result<SampleSummary> {
        // Tags, with the question counts and their wiki posts.
        let mut tags_file = XmlFile::create(&self.dir, "Tags.xml", "tags")?;
        for (tag_idx, topic) in TAGS.iter().enumerate() {
            self.row
                .start()
                .int("Id", tag_idx as i64 + 1)
                .text("TagName", topic.name)
                .int("Count", self.tag_counts[tag_idx])
                .int("ExcerptPostId", 2 * tag_idx as i64 + 1)
                .int("WikiPostId", 2 * tag_idx as i64 + 2);
            tags_file.write_row(&self.row)?;
        }
        // Badges earned by what each user did.
        let mut badges_file = XmlFile::create(&self.dir, "Badges.xml", "badges")?;
        let mut badge_id = 1;
        for (user_idx, user) in self.users.iter().enumerate() {
            let mut earned: Vec<(&str, i64, bool)> = Vec::new();
            if user.questions >= 1 {
                earned.push(("Student", 3, false));
            }
            if user.answers >= 1 {
                earned.push(("Teacher", 3, false));
            }
            if user.accepted_answers >= 1 {
                earned.push(("Enlightened", 2, false));
            }
            if user.accepted_answers >= 10 {
                earned.push(("Guru", 1, false));
            }
            if user.answers_in_first_interest >= 5 {
                earned.push((TAGS[user.interests[0]].name, 3, true));
            }
            for (name, class, tag_based) in earned {
                self.row
                    .start()
                    .int("Id", badge_id)
                    .int("UserId", user_idx as i64 + 1)
                    .text("Name", name)
                    .date("Date", user.last_active + 3_600, 0)
                    .int("Class", class)
                    .text("TagBased", if tag_based { "True" } else { "False" });
                badges_file.write_row(&self.row)?;
                badge_id += 1;
            }
        }
        self.summary.badges = (badge_id - 1) as u64;
        let mut files = Vec::new();
        files.extend(self.users_file.take());
        files.push(self.posts.finish()?);
        files.push(self.comments.finish()?);
        files.push(self.votes.finish()?);
        files.push(self.links.finish()?);
        files.push(tags_file.finish()?);
        files.push(badges_file.finish()?);
        self.summary.files = files;
        Ok(self.summary)
    }
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_sampling_follows_the_weights() {
        let weights = Weighted::new([1.0, 0.0, 3.0]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0usize; 3];
        for _ in 0..4_000 {
            counts[weights.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[1], 0, "{counts:?}");
        assert!((2_800..3_200).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn rows_escape_markup_and_newlines() {
        let mut row = RowBuilder::new();
        row.start()
            .int("Id", 1)
            .text("Body", "<p>a & \"b\"</p>\nnext")
            .date("CreationDate", EPOCH_SECONDS, 7);
        assert_eq!(
            row.finish(),
            "  <row Id=\"1\" Body=\"&lt;p&gt;a &amp; &quot;b&quot;&lt;/p&gt;&#xA;next\" CreationDate=\"2020-01-01T00:00:00.007\" />\n"
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(generate(dir.path(), &SampleConfig::new(1, 7)).is_err());
        let config = SampleConfig {
            chinese_share: 1.5,
            ..SampleConfig::new(10, 7)
        };
        assert!(generate(dir.path(), &config).is_err());
    }
}
