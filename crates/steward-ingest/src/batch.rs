//! A write batch whose records remember the line they came from, so that a
//! value the database refuses costs only its own record: the batch is split in
//! halves until the refused record stands alone, and that record becomes a
//! located skip (`rejected_by_store`) while every good record is written.

use steward_store::{Store, WriteBatch};

use crate::Result;
use crate::report::Location;

/// How many items of each kind one record put into the batch, in batch order.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    line: Location,
    users: usize,
    posts: usize,
    tags: usize,
    post_links: usize,
    badges: usize,
    events: usize,
    anonymous_votes: usize,
}

/// A [`WriteBatch`] built record by record.
#[derive(Debug, Default)]
pub(crate) struct LocatedBatch {
    batch: WriteBatch,
    spans: Vec<Span>,
}

/// A record the store refused, and why.
#[derive(Debug)]
pub(crate) struct Rejected {
    pub(crate) line: Location,
    pub(crate) error: steward_store::Error,
}

impl LocatedBatch {
    /// Adds what the record on `line` writes.
    pub(crate) fn push(&mut self, line: Location, record: WriteBatch) {
        let span = Span {
            line,
            users: record.users.len(),
            posts: record.posts.len(),
            tags: record.tags.len(),
            post_links: record.post_links.len(),
            badges: record.badges.len(),
            events: record.events.len(),
            anonymous_votes: record.anonymous_votes.len(),
        };
        let batch = &mut self.batch;
        batch.users.extend(record.users);
        batch.posts.extend(record.posts);
        batch.tags.extend(record.tags);
        batch.post_links.extend(record.post_links);
        batch.badges.extend(record.badges);
        batch.events.extend(record.events);
        batch.anonymous_votes.extend(record.anonymous_votes);
        self.spans.push(span);
    }

    /// Records in the batch.
    pub(crate) fn records(&self) -> usize {
        self.spans.len()
    }

    /// Splits off the records from `at` on.
    fn split_off(&mut self, at: usize) -> LocatedBatch {
        let tail_spans = self.spans.split_off(at);
        let mut head = Span::default();
        for span in &self.spans {
            head.users += span.users;
            head.posts += span.posts;
            head.tags += span.tags;
            head.post_links += span.post_links;
            head.badges += span.badges;
            head.events += span.events;
            head.anonymous_votes += span.anonymous_votes;
        }
        let batch = &mut self.batch;
        LocatedBatch {
            batch: WriteBatch {
                users: batch.users.split_off(head.users),
                posts: batch.posts.split_off(head.posts),
                tags: batch.tags.split_off(head.tags),
                post_links: batch.post_links.split_off(head.post_links),
                badges: batch.badges.split_off(head.badges),
                events: batch.events.split_off(head.events),
                anonymous_votes: batch.anonymous_votes.split_off(head.anonymous_votes),
                checkpoint: None,
            },
            spans: tail_spans,
        }
    }

    /// Writes the batch. When the store refuses a value
    /// ([`steward_store::Error::is_rejected_value`]), writes the halves
    /// instead, down to single records, and returns the refused ones; any
    /// other store error stops the write (what was written stays).
    pub(crate) async fn write(self, store: &Store) -> Result<Vec<Rejected>> {
        let mut rejected = Vec::new();
        let mut pending = vec![self];
        while let Some(mut part) = pending.pop() {
            if part.spans.is_empty() {
                continue;
            }
            match store.write(&part.batch).await {
                Ok(()) => {}
                Err(error) if error.is_rejected_value() => {
                    if part.spans.len() == 1 {
                        rejected.push(Rejected {
                            line: part.spans[0].line,
                            error,
                        });
                        continue;
                    }
                    let tail = part.split_off(part.spans.len() / 2);
                    // Last in, first out: the head is written first.
                    pending.push(tail);
                    pending.push(part);
                }
                Err(error) => return Err(error.into()),
            }
        }
        rejected.sort_by_key(|rejected| (rejected.line.line, rejected.line.column));
        Ok(rejected)
    }
}

#[cfg(test)]
mod tests {
    use steward_domain::{AnonymousVote, PostId};
    use steward_testkit::TestDb;
    use steward_testkit::fixtures::tag;

    use super::*;

    fn votes(ids: &[i64]) -> WriteBatch {
        WriteBatch {
            anonymous_votes: ids
                .iter()
                .map(|&id| AnonymousVote {
                    id,
                    post_id: PostId(1),
                    vote_type: 2,
                })
                .collect(),
            ..WriteBatch::default()
        }
    }

    /// The `tags` table refuses an empty name (a CHECK the mappers never let
    /// a record reach): the one record is skipped, its neighbours are written.
    #[tokio::test]
    async fn a_refused_record_costs_only_itself() {
        for db in [Some(TestDb::sqlite()), TestDb::postgres()]
            .into_iter()
            .flatten()
        {
            let store = db.open().await;
            let mut batch = LocatedBatch::default();
            for (line, name) in [(1, "a"), (2, "b"), (3, ""), (4, "c"), (5, "d")] {
                batch.push(
                    Location::line(line),
                    WriteBatch {
                        tags: vec![tag(name)],
                        anonymous_votes: votes(&[line as i64]).anonymous_votes,
                        ..WriteBatch::default()
                    },
                );
            }
            let rejected = batch.write(&store).await.expect("no store failure");
            let lines: Vec<u64> = rejected.iter().map(|rejected| rejected.line.line).collect();
            assert_eq!(lines, [3]);
            let stats = store.stats().await.expect("stats");
            assert_eq!((stats.tags, stats.anonymous_votes), (4, 4));
            store.close().await;
            db.cleanup().await;
        }
    }

    #[test]
    fn splitting_keeps_each_record_with_its_items() {
        let mut batch = LocatedBatch::default();
        batch.push(Location::line(3), votes(&[1, 2]));
        batch.push(Location::line(4), votes(&[]));
        batch.push(Location::line(9), votes(&[3]));
        let tail = batch.split_off(1);
        let ids = |batch: &LocatedBatch| -> Vec<i64> {
            batch
                .batch
                .anonymous_votes
                .iter()
                .map(|vote| vote.id)
                .collect()
        };
        assert_eq!(ids(&batch), [1, 2]);
        assert_eq!(ids(&tail), [3]);
        assert_eq!(
            tail.spans
                .iter()
                .map(|span| span.line.line)
                .collect::<Vec<_>>(),
            [4, 9]
        );
    }
}
