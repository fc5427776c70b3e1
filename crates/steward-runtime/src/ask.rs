//! Question answering as configured: `[ask]` turned into the answerer's
//! options, and the one way a command or the server builds an answerer.

use steward_ml::audit::Gateway;
use steward_search::answer::{Answerer, AskOptions};
use steward_search::searcher::Searcher;

use crate::config::{AskSettings, Config};

/// The answerer's options from `[ask]`.
pub fn options(settings: &AskSettings) -> AskOptions {
    AskOptions {
        threads: settings.threads,
        passages: settings.passages,
        min_support: settings.min_support as f32,
        sentence_support: settings.sentence_support as f32,
        min_kept_share: settings.min_kept_share as f32,
        max_tokens: settings.max_tokens,
        passage_chars: settings.passage_chars,
    }
}

/// An answerer over `searcher`, drafting with `gateway` when given.
pub fn answerer(config: &Config, searcher: Searcher, gateway: Option<Gateway>) -> Answerer {
    Answerer::new(searcher, gateway, options(&config.ask))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's defaults are the example file's.
    #[test]
    fn library_defaults_agree_with_the_example_file() {
        assert_eq!(options(&Config::defaults().ask), AskOptions::default());
    }
}
