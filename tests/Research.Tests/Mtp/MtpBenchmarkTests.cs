using System.Text.Json;
using Research.Cli;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Mtp;

public sealed class MtpBenchmarkTests
{
    [Fact]
    public void Bench_mtp_times_both_decoders_on_a_trained_model_and_they_give_the_same_tokens()
    {
        // A small, short run: the numbers are not the point here, their consistency and the identical tokens are.
        var (exit, stdout, stderr) = InProcessCli.Run("bench", "mtp", "--layers", "2", "--steps", "60", "--depth", "2", "--draft-depth", "2",
            "--repetitions", "1", "--json");
        Assert.True(exit == ExitCodes.Ok, stderr);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.True(r.GetProperty("identical").GetBoolean());
        Assert.Equal(2, r.GetProperty("layers").GetInt32());
        Assert.Equal(2, r.GetProperty("draftDepth").GetInt32());
        double ratio = r.GetProperty("ratio").GetDouble();
        Assert.Equal(r.GetProperty("speculativeTokensPerSecond").GetDouble() / r.GetProperty("plainTokensPerSecond").GetDouble(), ratio, 6);
        // With two chained depths a forward gives 1 to 3 tokens.
        Assert.InRange(r.GetProperty("tokensPerForward").GetDouble(), 1.0, 3.0);
    }

    [Theory]
    [InlineData(new[] { "bench", "mtp", "--draft-depth", "2" }, "DraftDepth must be in 1..1")]
    [InlineData(new[] { "bench", "mtp", "--depth", "0" }, "Depth (D) must be in 1..8")]
    [InlineData(new[] { "bench", "mtp", "--layers", "0" }, "Layers")]
    [InlineData(new[] { "bench", "mtp", "--tokens", "64" }, "Unrecognized command or argument '--tokens'")]
    [InlineData(new[] { "bench", "grpo", "--draft-depth", "1" }, "Unrecognized command or argument '--draft-depth'")]
    public void Bench_mtp_refuses_a_draft_deeper_than_the_trained_depths_and_options_that_do_not_apply(string[] args, string named) =>
        InProcessCli.AssertBadInput(InProcessCli.Run(args), named);
}
