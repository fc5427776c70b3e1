//! Single-thread throughput of `html_to_text` and `tokenize` on the real Stack Exchange bodies.
//! Run with `cargo run --release -p steward-text --example throughput`.

use std::time::{Duration, Instant};

use steward_testkit::dumps::post_bodies;
use steward_testkit::shared_data_dir;
use steward_text::html::html_to_text;
use steward_text::lang::detect;
use steward_text::tokenize::{Tokenizer, TokenizerConfig};

/// Repeats `work` over the corpus until at least this long has passed, for a stable figure.
const MIN_MEASURE_TIME: Duration = Duration::from_secs(2);

/// Time this thread has spent on a CPU (Linux), so that figures taken on a shared, busy
/// machine reflect the code rather than the neighbours. `None` elsewhere.
fn thread_cpu_time() -> Option<Duration> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanoseconds = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanoseconds))
}

fn measure(label: &str, input_bytes: usize, mut work: impl FnMut() -> usize) {
    // One warm-up round (loads jieba's dictionary, fills caches).
    let mut checksum = work();
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    let mut rounds = 0u32;
    while started.elapsed() < MIN_MEASURE_TIME {
        checksum = checksum.wrapping_add(work());
        rounds += 1;
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let megabytes = input_bytes as f64 * f64::from(rounds) / 1e6;
    let cpu_figure = match (cpu_started, thread_cpu_time()) {
        (Some(cpu_start), Some(cpu_end)) => format!(
            "{:>7.1} MB/s per CPU-second",
            megabytes / (cpu_end - cpu_start).as_secs_f64()
        ),
        _ => String::from("(no CPU clock)"),
    };
    println!(
        "{label:<28} {:>7.1} MB/s wall {cpu_figure}  ({rounds} rounds of {input_bytes} bytes; checksum {checksum})",
        megabytes / wall_seconds
    );
}

fn main() {
    let mut bodies = Vec::new();
    for dump in ["se-ai-2017", "se-cardano-2021"] {
        let Some(dir) = shared_data_dir(dump) else {
            continue;
        };
        let posts_xml = dir.join("Posts.xml");
        match post_bodies(&posts_xml) {
            Ok(found) => bodies.extend(found),
            Err(error) => eprintln!("skipping {}: {error}", posts_xml.display()),
        }
    }
    if bodies.is_empty() {
        eprintln!("no bodies found (set STEWARD_DATA_DIR)");
        return;
    }
    let html_bytes: usize = bodies.iter().map(String::len).sum();
    let texts: Vec<String> = bodies.iter().map(|body| html_to_text(body).text).collect();
    let text_bytes: usize = texts.iter().map(String::len).sum();
    println!(
        "{} bodies, {html_bytes} bytes of HTML, {text_bytes} bytes of text",
        bodies.len()
    );

    measure("html_to_text (HTML bytes)", html_bytes, || {
        bodies
            .iter()
            .map(|body| html_to_text(body).text.len())
            .sum()
    });
    let tokenizer = Tokenizer::new(TokenizerConfig::default());
    measure("tokenize (text bytes)", text_bytes, || {
        texts
            .iter()
            .map(|text| tokenizer.tokenize(text).len())
            .sum()
    });
    measure("terms (text bytes)", text_bytes, || {
        texts.iter().map(|text| tokenizer.terms(text).len()).sum()
    });
    measure("lang::detect (text bytes)", text_bytes, || {
        texts
            .iter()
            .map(|text| detect(text).map_or(0, str::len))
            .sum()
    });
    let chinese = "如何在 Rust 中使用 tokio::select! 处理多个 future？我试过 std::vector<int>，在 C# 和 .NET 里也一样。神经网络的反向传播算法是怎样工作的？我在用 PyTorch 训练一个模型的时候，loss 一直不下降。".repeat(2000);
    measure("tokenize (mixed zh sample)", chinese.len(), || {
        tokenizer.tokenize(&chinese).len()
    });
}
