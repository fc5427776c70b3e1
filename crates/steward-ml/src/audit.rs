//! LLM audit and quotas.
