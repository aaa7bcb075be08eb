using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Models;

/// <summary>
/// SwiGLU feed-forward (Shazeer 2020), the FFN of LLaMA and of DeepSeek's dense layers and experts:
/// W₂ (SiLU(W₁ x) ⊙ W₃ x).
/// </summary>
public sealed class SwiGlu : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate;     // W₁ [hidden, d]
    private readonly Linear up;       // W₃ [hidden, d]
    private readonly Linear output;   // W₂ [d, hidden]; a residual projection for TinyLm's init

    public SwiGlu(int dim, int hidden, Device device) : base(nameof(SwiGlu))
    {
        gate = nn.Linear(dim, hidden, hasBias: false, device: device);
        up = nn.Linear(dim, hidden, hasBias: false, device: device);
        output = nn.Linear(hidden, dim, hasBias: false, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)   // [..., d] → [..., d]
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.silu(gate.forward(x)) * up.forward(x);   // [..., hidden]
        return output.forward(h).MoveToOuterDisposeScope();
    }
}
