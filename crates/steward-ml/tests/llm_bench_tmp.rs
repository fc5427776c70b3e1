use std::time::Instant;
use steward_ml::llm::local::{LocalLlm, LocalOptions};
#[test]
fn bench_tmp() {
    let t = Instant::now();
    let llm = LocalLlm::load(std::path::Path::new("/work/shared/models/SmolLM2-135M-Instruct"), &LocalOptions { prefix_cache_entries: 0, ..LocalOptions::default() }).unwrap();
    println!("load {:.2}s", t.elapsed().as_secs_f64());
    let text = "A user asks how to fine-tune a small language model on a laptop without a GPU. The accepted answer explains that quantized weights, a short context and a few hundred training examples are enough to adapt the model's style, and that evaluation on held-out questions matters more than the final loss. ".repeat(4);
    let prompt: Vec<u32> = llm.tokenizer().encode(&text).unwrap()[..128].to_vec();
    println!("TOKENS {}", prompt.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(","));
    let run = |n_gen: usize| {
        let mut cache = llm.new_cache();
        let s = Instant::now();
        let mut logits = llm.forward(&prompt, &mut cache).unwrap();
        let p = s.elapsed().as_secs_f64();
        let s = Instant::now();
        for _ in 0..n_gen { let next = logits.argmax(0).unwrap().to_scalar::<u32>().unwrap(); logits = llm.forward(&[next], &mut cache).unwrap(); }
        let d = s.elapsed().as_secs_f64();
        (128.0 / p, n_gen as f64 / d)
    };
    run(8);
    for _ in 0..3 { let (p, d) = run(128); println!("prompt {p:.1} tok/s decode {d:.1} tok/s"); }
}
