using System.Text.Json;
using Research.Cli;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Rl;

public sealed class GrpoBenchmarkTests
{
    [Fact]
    public void Bench_grpo_times_sampling_and_updates_and_the_cached_sampler_draws_the_same_tokens()
    {
        var (exit, stdout, stderr) = InProcessCli.Run("bench", "grpo", "--repetitions", "1", "--json");
        Assert.True(exit == ExitCodes.Ok, stderr);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.True(r.GetProperty("identical").GetBoolean());
        Assert.Equal(32, r.GetProperty("prompts").GetInt32());
        Assert.Equal(8, r.GetProperty("groupSize").GetInt32());
        Assert.True(r.GetProperty("sampleMilliseconds").GetDouble() > 0 && r.GetProperty("updateMilliseconds").GetDouble() > 0);
        // The ratio is what the two throughputs say, not a separate number.
        double ratio = r.GetProperty("ratio").GetDouble();
        Assert.Equal(r.GetProperty("uncachedTokensPerSecond").GetDouble() / r.GetProperty("cachedTokensPerSecond").GetDouble(), ratio, 6);
        Assert.True(r.GetProperty("sampledTokens").GetDouble() >= 32 * 8);
    }

    [Theory]
    [InlineData(new[] { "bench", "grpo", "--tokens", "64" }, "Unrecognized command or argument '--tokens'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "grpo", "--repetitions", "0" }, "Repetitions")]
    public void Bench_grpo_refuses_options_that_do_not_apply(string[] args, string named) =>
        InProcessCli.AssertBadInput(InProcessCli.Run(args), named);
}
