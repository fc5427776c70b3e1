//! Stored rows back into domain values. A value that does not decode is reported
//! as [`Error::Corrupt`] with its table and column, never silently defaulted.

use sqlx::Row;
use sqlx::any::AnyRow;
use steward_domain::{Event, EventTarget, Post, PostId, PostLink, Tag, Timestamp, User, UserId};

use crate::error::{Error, Result};
use crate::from_millis;

/// One column of `row`, decoded, or a `Corrupt` error naming it.
pub(crate) fn column<'r, T>(row: &'r AnyRow, table: &'static str, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(|error| Error::Corrupt {
        table,
        message: format!("column {name}: {error}"),
    })
}

fn time(row: &AnyRow, table: &'static str, name: &str) -> Result<Timestamp> {
    from_millis(table, column(row, table, name)?)
}

fn optional_time(row: &AnyRow, table: &'static str, name: &str) -> Result<Option<Timestamp>> {
    column::<Option<i64>>(row, table, name)?
        .map(|millis| from_millis(table, millis))
        .transpose()
}

pub(crate) fn json_list(row: &AnyRow, table: &'static str, name: &str) -> Result<Vec<String>> {
    let text: String = column(row, table, name)?;
    serde_json::from_str(&text).map_err(|error| Error::Corrupt {
        table,
        message: format!("column {name} is not a JSON list of strings: {error}"),
    })
}

pub(crate) fn parse<T>(table: &'static str, value: &str) -> Result<T>
where
    T: std::str::FromStr<Err = steward_domain::Error>,
{
    value
        .parse()
        .map_err(|error: steward_domain::Error| Error::Corrupt {
            table,
            message: error.to_string(),
        })
}

pub(crate) fn user(row: &AnyRow) -> Result<User> {
    const TABLE: &str = "users";
    Ok(User {
        id: UserId(column(row, TABLE, "id")?),
        display_name: column(row, TABLE, "display_name")?,
        reputation: column(row, TABLE, "reputation")?,
        created_at: time(row, TABLE, "created_at")?,
        last_access_at: optional_time(row, TABLE, "last_access_at")?,
        location: column(row, TABLE, "location")?,
        about: column(row, TABLE, "about")?,
        website: column(row, TABLE, "website")?,
    })
}

pub(crate) fn post(row: &AnyRow) -> Result<Post> {
    const TABLE: &str = "posts";
    let kind: String = column(row, TABLE, "kind")?;
    let optional_post = |name: &str| -> Result<Option<PostId>> {
        Ok(column::<Option<i64>>(row, TABLE, name)?.map(PostId))
    };
    Ok(Post {
        id: PostId(column(row, TABLE, "id")?),
        kind: parse(TABLE, &kind)?,
        parent_id: optional_post("parent_id")?,
        accepted_answer_id: optional_post("accepted_answer_id")?,
        owner_id: column::<Option<i64>>(row, TABLE, "owner_id")?.map(UserId),
        title: column(row, TABLE, "title")?,
        body_html: column(row, TABLE, "body_html")?,
        body_text: column(row, TABLE, "body_text")?,
        code_blocks: json_list(row, TABLE, "code_blocks")?,
        tags: json_list(row, TABLE, "tags")?,
        score: column(row, TABLE, "score")?,
        view_count: column(row, TABLE, "view_count")?,
        answer_count: column(row, TABLE, "answer_count")?,
        comment_count: column(row, TABLE, "comment_count")?,
        favorite_count: column(row, TABLE, "favorite_count")?,
        created_at: time(row, TABLE, "created_at")?,
        last_activity_at: optional_time(row, TABLE, "last_activity_at")?,
        closed_at: optional_time(row, TABLE, "closed_at")?,
        license: column(row, TABLE, "license")?,
        language: column(row, TABLE, "language")?,
    })
}

pub(crate) fn post_link(row: &AnyRow) -> Result<PostLink> {
    const TABLE: &str = "post_links";
    let kind: String = column(row, TABLE, "kind")?;
    Ok(PostLink {
        id: column(row, TABLE, "id")?,
        post_id: PostId(column(row, TABLE, "post_id")?),
        related_post_id: PostId(column(row, TABLE, "related_post_id")?),
        kind: parse(TABLE, &kind)?,
        created_at: time(row, TABLE, "created_at")?,
    })
}

pub(crate) fn tag(row: &AnyRow) -> Result<Tag> {
    const TABLE: &str = "tags";
    Ok(Tag {
        name: column(row, TABLE, "name")?,
        count: column(row, TABLE, "count")?,
        excerpt: column(row, TABLE, "excerpt")?,
        wiki: column(row, TABLE, "wiki")?,
        synonyms: json_list(row, TABLE, "synonyms")?,
    })
}

pub(crate) fn event(row: &AnyRow) -> Result<Event> {
    const TABLE: &str = "events";
    let kind: String = column(row, TABLE, "kind")?;
    let target_kind: String = column(row, TABLE, "target_kind")?;
    let target_id: Option<i64> = column(row, TABLE, "target_id")?;
    let target_tag: Option<String> = column(row, TABLE, "target_tag")?;
    let target = match (target_kind.as_str(), target_id, target_tag) {
        ("post", Some(id), _) => EventTarget::Post(PostId(id)),
        ("user", Some(id), _) => EventTarget::User(UserId(id)),
        ("tag", _, Some(name)) => EventTarget::Tag(name),
        (other, ..) => {
            return Err(Error::Corrupt {
                table: TABLE,
                message: format!("target `{other}` without its id or tag name"),
            });
        }
    };
    Ok(Event {
        key: column(row, TABLE, "key")?,
        user_id: UserId(column(row, TABLE, "user_id")?),
        kind: parse(TABLE, &kind)?,
        target,
        at: time(row, TABLE, "at")?,
        weight: column(row, TABLE, "weight")?,
    })
}
