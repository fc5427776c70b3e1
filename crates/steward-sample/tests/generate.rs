//! The generated community is deterministic: the same config gives the same
//! bytes, pinned here by checksums so a change to the generator (or to rand)
//! that alters `steward sample --seed S` output cannot pass unnoticed.

use std::path::Path;

use steward_sample::{SampleConfig, generate};

/// Every file of the folder, sorted by name, with its bytes.
fn read_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("sample dir")
        .map(|entry| {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("sample file"))
        })
        .collect();
    files.sort();
    files
}

/// Generates `config` and compares each file's size and xxh3 with `expected`
/// (`name size hash` per line, sorted by name).
fn check(config: SampleConfig, expected: &str) {
    let temp = tempfile::tempdir().expect("temp dir");
    generate(temp.path(), &config).expect("the sample is written");
    let actual: String = read_files(temp.path())
        .iter()
        .map(|(name, bytes)| {
            format!(
                "{name} {} {:016x}\n",
                bytes.len(),
                xxhash_rust::xxh3::xxh3_64(bytes)
            )
        })
        .collect();
    assert_eq!(actual.trim(), expected.trim(), "{config:?}");
}

#[test]
fn the_default_shape_is_byte_identical_to_the_pinned_output() {
    check(
        SampleConfig::new(400, 7),
        "
Badges.xml 48269 9f1e043f5b31efdc
Comments.xml 79242 b80a9ce94cd75c8f
PostLinks.xml 1736 82d4b2807bf3b286
Posts.xml 504487 e8e7080648380c11
Tags.xml 3290 17c6c09247eee667
Users.xml 96078 df7c7e4d70c8705f
Votes.xml 174120 c20df357a8a5a404
",
    );
}

#[test]
fn a_fixed_question_count_is_byte_identical_to_the_pinned_output() {
    check(
        SampleConfig {
            questions: Some(30),
            chinese_share: 0.5,
            ..SampleConfig::new(50, 1)
        },
        "
Badges.xml 6064 1fee3ae964466493
Comments.xml 10743 0cdd7839c3aa482a
PostLinks.xml 67 8c94604475c67f90
Posts.xml 80132 4a6eef4d70f2bae0
Tags.xml 3280 5f38d877ea31727c
Users.xml 11598 b1b639a2fe618583
Votes.xml 18813 a5fb50317a07cc67
",
    );
}

#[test]
fn a_sample_sized_by_bytes_is_byte_identical_to_the_pinned_output() {
    check(
        SampleConfig {
            target_posts_bytes: Some(300_000),
            ..SampleConfig::new(120, 99)
        },
        "
Badges.xml 19933 e38d902be362ec13
Comments.xml 44097 bc8421f00b358f5e
PostLinks.xml 378 e5088cf5a5e2070b
Posts.xml 300520 7ec7eee226ffd02d
Tags.xml 3287 6a2d3d9e296d477d
Users.xml 28302 de5fab9ef05e4e21
Votes.xml 107041 a264dc957eb30bf2
",
    );
}

#[test]
fn samples_are_deterministic_and_seeds_differ() {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = SampleConfig::new(400, 7);
    let first = generate(&temp.path().join("a"), &config).expect("sample a");
    generate(&temp.path().join("b"), &config).expect("sample b");
    generate(&temp.path().join("c"), &SampleConfig::new(400, 8)).expect("sample c");
    let files_a = read_files(&temp.path().join("a"));
    assert_eq!(files_a.len(), 7);
    assert_eq!(
        files_a,
        read_files(&temp.path().join("b")),
        "same seed, different bytes"
    );
    let files_c = read_files(&temp.path().join("c"));
    let posts = |files: &[(String, Vec<u8>)]| {
        files
            .iter()
            .find(|(name, _)| name == "Posts.xml")
            .map(|(_, bytes)| bytes.clone())
    };
    assert_ne!(
        posts(&files_a),
        posts(&files_c),
        "different seeds, same posts"
    );

    assert_eq!(first.questions, 240, "3 questions per 5 users by default");
    assert!(
        first.chinese_questions > 5 && first.chinese_questions < 60,
        "{first:?}"
    );
    assert!(
        first.accepted_answers > 0 && first.duplicate_links > 0 && first.favorites > 0,
        "{first:?}"
    );
}

#[test]
fn a_sample_sized_by_bytes_reaches_its_size() {
    let temp = tempfile::tempdir().expect("temp dir");
    let config = SampleConfig {
        target_posts_bytes: Some(2_000_000),
        ..SampleConfig::new(500, 3)
    };
    let summary = generate(temp.path(), &config).expect("sample");
    let posts = summary.file("Posts.xml").expect("Posts.xml written");
    assert!(
        posts.bytes >= 2_000_000 && posts.bytes < 2_100_000,
        "{posts:?}"
    );
    assert_eq!(
        posts.bytes,
        std::fs::metadata(temp.path().join("Posts.xml"))
            .expect("file")
            .len()
    );
}
