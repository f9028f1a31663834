//! Counting tokens the way the model will: OpenAI model families use their own BPE tables
//! (tiktoken: `o200k_base` for gpt-4o/o-series/gpt-4.1/gpt-5, `cl100k_base` for gpt-4 and
//! gpt-3.5). For any other model (Llama, Qwen, Mistral behind Ollama or vLLM) Skipper has no
//! tokenizer and says so: it counts with `cl100k_base`, which is within a few percent of those
//! models' BPE vocabularies on English and SQL, and reports the count as an estimate.

use tiktoken_rs::CoreBPE;

pub struct TokenCounter {
    bpe: &'static CoreBPE,
    /// The encoding used, e.g. `o200k_base`.
    pub encoding: &'static str,
    /// True when the encoding is the configured model's own.
    pub exact: bool,
    pub model: Option<String>,
}

impl TokenCounter {
    pub fn for_model(model: Option<&str>) -> TokenCounter {
        if let Some(m) = model
            && let Some(tok) = tiktoken_rs::tokenizer::get_tokenizer(m)
        {
            use tiktoken_rs::tokenizer::Tokenizer as T;
            let (bpe, encoding): (&'static CoreBPE, &'static str) = match tok {
                T::O200kBase | T::O200kHarmony => {
                    (tiktoken_rs::o200k_base_singleton(), "o200k_base")
                }
                T::Cl100kBase => (tiktoken_rs::cl100k_base_singleton(), "cl100k_base"),
                T::P50kBase | T::P50kEdit => (tiktoken_rs::p50k_base_singleton(), "p50k_base"),
                T::R50kBase | T::Gpt2 => (tiktoken_rs::r50k_base_singleton(), "r50k_base"),
            };
            return TokenCounter {
                bpe,
                encoding,
                exact: true,
                model: Some(m.to_string()),
            };
        }
        TokenCounter {
            bpe: tiktoken_rs::cl100k_base_singleton(),
            encoding: "cl100k_base",
            exact: false,
            model: model.map(str::to_string),
        }
    }

    pub fn count(&self, text: &str) -> usize {
        self.bpe.encode_ordinary(text).len()
    }

    /// "o200k_base (gpt-4o's own)" or "cl100k_base (estimate: no tokenizer known for llama3)".
    pub fn describe(&self) -> String {
        match (&self.model, self.exact) {
            (Some(m), true) => format!("{} ({m}'s own)", self.encoding),
            (Some(m), false) => format!(
                "{} (estimate: no tokenizer is known for model '{m}')",
                self.encoding
            ),
            (None, _) => format!("{} (estimate: no model configured)", self.encoding),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_the_models_own() {
        let t = TokenCounter::for_model(Some("gpt-4o"));
        assert_eq!(t.encoding, "o200k_base");
        assert!(t.exact);
        // Known o200k answer: "hello world" is two tokens.
        assert_eq!(t.count("hello world"), 2);
        let f = TokenCounter::for_model(Some("llama3.1:8b"));
        assert!(!f.exact);
        assert_eq!(f.encoding, "cl100k_base");
        // Not characters / 4: a long identifier is several tokens.
        let n = f.count("billing_usage_daily");
        assert!(n >= 3 && n != "billing_usage_daily".len() / 4, "{n}");
    }
}
