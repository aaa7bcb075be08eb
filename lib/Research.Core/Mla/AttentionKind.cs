namespace Research.Mla;

/// <summary>
/// The attention mechanisms DeepSeek-V2 §2.1 compares by KV-cache size (Table 1). In JSON (kebab-case):
/// "mha", "gqa", "mqa", "mla".
/// </summary>
public enum AttentionKind
{
    /// <summary>Multi-head attention: every head caches its own key and value (Vaswani et al. 2017).</summary>
    Mha,
    /// <summary>Grouped-query attention: n_g key/value heads, each shared by n_h / n_g query heads (Ainslie et al. 2023).</summary>
    Gqa,
    /// <summary>Multi-query attention: one key/value head shared by all query heads (Shazeer 2019).</summary>
    Mqa,
    /// <summary>Multi-head latent attention: one compressed latent c^KV of width d_c plus one shared RoPE key of width d_h^R per token (DeepSeek-V2 §2.1).</summary>
    Mla,
}
