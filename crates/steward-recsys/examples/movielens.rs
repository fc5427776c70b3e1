//! `cargo run -p steward-recsys --example movielens -- DIR [--quick]`: the
//! MovieLens protocol without the CLI (what `steward eval recsys
//! --movielens DIR` prints), for iterating on the models.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: movielens DIR [--quick]")?;
    let quick = args.next().as_deref() == Some("--quick");
    let options = steward_recsys::movielens::MovielensOptions {
        tune: !quick,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let report = steward_recsys::movielens::evaluate_movielens(dir.as_ref(), &options)?;
    println!("{report}");
    println!("{}", serde_json::to_string(&report)?);
    eprintln!("{:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
