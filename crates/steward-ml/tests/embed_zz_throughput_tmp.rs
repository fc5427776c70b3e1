//! Temporary throughput probe (deleted after use).
use std::path::PathBuf;
use std::time::Instant;
use steward_ml::embed::Purpose;
use steward_ml::embed::bert::{BertEmbedder, BertOptions};

#[test]
fn probe() {
    let dir = PathBuf::from("/work/shared/models/all-MiniLM-L6-v2");
    let e = BertEmbedder::load(&dir, BertOptions::from_model_dir(&dir).unwrap()).unwrap();
    let xml = std::fs::read_to_string("/work/shared/data/se-ai-2017/Posts.xml").unwrap();
    let titles: Vec<String> = xml.lines().filter_map(|l| { let k=" Title=\""; let s=l.find(k)?+k.len(); let n=l[s..].find('"')?; Some(l[s..s+n].replace("&quot;","\"").replace("&amp;","&")) }).collect();
    let s: Vec<&str> = titles.iter().cycle().take(1000).map(|x| x.as_str()).collect();
    e.embed(&s[..32], Purpose::Passage).unwrap();
    let t = Instant::now(); e.embed(&s, Purpose::Passage).unwrap();
    eprintln!("sentences/s {:.1}", 1000.0 / t.elapsed().as_secs_f64());
    let mut passages = Vec::new();
    let mut i = 0;
    for _ in 0..32 { let mut p = String::new(); while e.token_counts(&[&p]).unwrap()[0] < 240 { p.push_str(&titles[i % titles.len()]); p.push(' '); i += 1; } passages.push(p); }
    let pr: Vec<&str> = passages.iter().map(|x| x.as_str()).collect();
    let tc = e.token_counts(&pr).unwrap();
    e.embed(&pr[..4], Purpose::Passage).unwrap();
    let t = Instant::now(); e.embed(&pr, Purpose::Passage).unwrap();
    eprintln!("passages/s {:.2} (max tokens {})", 32.0 / t.elapsed().as_secs_f64(), tc.iter().max().unwrap());
}
