using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Experiments;
using Research.Statistics;
using Research.Sweeps;
using Research.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Experiments;

/// <summary>Reference results built from a small sweep of fp8-training (20 steps, three seeds, about a second per cell).</summary>
public sealed class ReferencesTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>Plans and runs a one-arm sweep of the tiny config in-process; returns its directory.</summary>
    private static string TinySweep(int seeds = 3, bool run = true, string arms = """[{ "name": "reference" }]""")
    {
        var folder = TestPaths.TempFolder();
        File.WriteAllText(Path.Combine(folder, "tiny.json"), """{ "steps": 20, "logEvery": 10, "validationExamples": 256, "seeds": [0] }""");
        var sweepPath = Path.Combine(folder, "sweep.json");
        File.WriteAllText(sweepPath, $$"""
            { "name": "tiny-fp8", "experiment": "fp8-training", "base": "tiny.json", "seeds": {{seeds}}, "arms": {{arms}}, "baseline": "reference",
              "metrics": [{ "name": "fp8", "path": "runs[name=FP8 fine-grained].finalValidationLoss", "direction": "lower" }] }
            """);
        var dir = Path.Combine(folder, "sweep");
        var plan = SweepPlanner.Plan(SweepFiles.Load(sweepPath), sweepPath, dir, "cpu").Plan;
        if (run)
            foreach (var cell in plan.Cells) SweepCells.Run(dir, cell.Index, "cpu", cancellation: Token);
        return dir;
    }

    private static readonly Lazy<(string Dir, ReferenceResult Reference)> Tiny = new(() =>
    {
        var dir = TinySweep();
        return (dir, References.Collect(dir, "tiny"));
    });

    [Fact]
    public void Collect_holds_the_config_at_every_seed_the_comparisons_and_the_provenance()
    {
        var reference = Tiny.Value.Reference;

        Assert.Equal(("fp8-training", "tiny"), (reference.Experiment, reference.Name));
        Assert.Equal([0, 1, 2], reference.Seeds);
        Assert.Equal([0, 1, 2], reference.Config["seeds"]!.AsArray().Select(s => (int)s!));
        Assert.Equal(20, (int)reference.Config["steps"]!);
        Assert.Equal(References.ConfigHash("fp8-training", reference.Config), reference.ConfigHash);
        var loss = reference.Comparison("final validation loss");
        Assert.Equal(["FP32", "FP8 per-tensor", "FP8 fine-grained"], loss.Arms.Select(a => a.Arm));
        Assert.All(loss.Arms, a => Assert.Equal([0, 1, 2], a.Values.Select(v => v.Seed)));
        Assert.Equal(3, reference.Provenance.SecondsPerSeed.Count);
        Assert.False(string.IsNullOrEmpty(reference.Provenance.KitCommit));
        Assert.False(string.IsNullOrEmpty(reference.Provenance.Cpu));
        Assert.True(reference.Provenance.Threads >= 1);
        // The comparisons are the experiment's own over the cells' per-seed results: the same as one run of all three seeds
        var direct = global::Research.Fp8.Fp8TrainingExperiment.Run(global::Research.Fp8.Fp8TrainingExperiment.Experiment.Resolve(new ExperimentRequest(CPU,
            ConfigPath: Path.Combine(Path.GetDirectoryName(Tiny.Value.Dir)!, "tiny.json"), Seeds: [0, 1, 2])), CPU, cancellation: Token);
        Assert.Equal(direct.Comparison("final validation loss").Comparisons.Select(c => (c.Arm, c.Mean, c.Verdict)),
            loss.Comparisons.Select(c => (c.Arm, c.Mean, c.Verdict)));
    }

    [Fact]
    public void A_written_reference_reads_back_and_verifies_bit_for_bit_at_any_of_its_seeds()
    {
        var path = Path.Combine(TestPaths.TempFolder(), "tiny.json");
        References.Write(Tiny.Value.Reference, path);
        var reference = References.Read(path);

        foreach (int seed in new[] { 0, 2 })
        {
            var check = References.Verify(reference, CPU, seed, cancellation: Token);
            Assert.True(check.Reproduced, string.Join("; ", check.Values.Select(v => $"{v.Arm} {v.Committed} → {v.Computed}")) + check.StatisticsMismatch);
            Assert.Equal(3, check.Values.Count);
            Assert.All(check.Values, v => Assert.Equal(0, v.Difference));
        }
        Assert.Throws<ArgumentException>(() => References.Verify(reference, CPU, 7, cancellation: Token));
    }

    [Fact]
    public void An_edited_verdict_value_or_config_fails_verification()
    {
        var json = JsonSerializer.SerializeToNode(Tiny.Value.Reference, ExperimentConfigs.Json)!;
        var verdict = json.DeepClone();
        verdict["comparisons"]![0]!["comparisons"]![0]!["verdict"] = "better";
        var value = json.DeepClone();
        value["comparisons"]![0]!["arms"]![1]!["values"]![1]!["value"] = 0.5;
        var config = json.DeepClone();
        config["config"]!["steps"] = 21;

        var folder = TestPaths.TempFolder();
        foreach (var (name, node, expected) in new[] { ("verdict", verdict, "FP8 per-tensor"), ("value", value, "FP8 per-tensor"), ("config", config, "the config was edited") })
        {
            var path = Path.Combine(folder, name + ".json");
            File.WriteAllText(path, node.ToJsonString());
            var check = References.Verify(References.Read(path), CPU, cancellation: Token);
            Assert.False(check.Reproduced, name);
            Assert.Contains(expected, check.StatisticsMismatch);
            // The command says so and exits 1
            var (exit, stdout, _) = InProcessCli.Run("results", "verify", path);
            Assert.Equal(1, exit);
            Assert.Contains("FAIL fp8-training/tiny", stdout);
        }
    }

    [Fact]
    public void An_unfinished_or_many_armed_sweep_is_refused()
    {
        var unfinished = Assert.Throws<ConfigException>(() => References.Collect(TinySweep(run: false), "tiny"));
        Assert.Contains("3 of 3 cells are not done", unfinished.Message);

        var twoArms = Assert.Throws<ConfigException>(() => References.Collect(TinySweep(seeds: 1, run: false,
            arms: """[{ "name": "reference" }, { "name": "longer", "patch": { "steps": 30 } }]"""), "tiny"));
        Assert.Contains("has 2 arms", twoArms.Message);

        InProcessCli.AssertBadInput(InProcessCli.Run("results", "collect", TinySweep(run: false), "--name", "tiny", "--out", Path.Combine(TestPaths.TempFolder(), "r.json")), "not done");
    }

    [Fact]
    public void The_prediction_interval_is_the_closed_form_and_a_live_run_is_checked_against_it()
    {
        // 1..5: mean 3, s = √2.5, t(0.975, 4) = 2.776445; half-width t·s·√(1 + 1/5)
        var (low, high) = Describe.PredictionInterval([1.0, 2, 3, 4, 5]);
        double half = 2.7764451051977987 * Math.Sqrt(2.5) * Math.Sqrt(1.2);
        Assert.Equal(3 - half, low, 10);
        Assert.Equal(3 + half, high, 10);
        Assert.True(double.IsNaN(Describe.PredictionInterval([1.0]).Low));

        var reference = Tiny.Value.Reference;
        var loss = reference.Comparison("final validation loss");
        // A seed's own committed values lie inside; a value far outside does not
        var inside = LiveRuns.Against(reference, [loss]);
        Assert.Equal(9, inside.Count);   // 3 arms × 3 seeds, Bonferroni over the 9
        var outside = loss with { Arms = [.. loss.Arms.Select(a => a with { Values = [new SeedValue(9, a.Summary!.Mean + 100)] })] };
        Assert.All(LiveRuns.Against(reference, [outside]), c => Assert.False(c.Inside));
    }

    [Fact]
    public void A_config_finds_its_shipped_reference_whatever_its_seeds_and_a_changed_config_finds_none()
    {
        var workshop = ExperimentConfigs.Load<Research.V3Mini.V3MiniExperimentConfig>("v3-mini", workshop: true);

        Assert.Equal("workshop", References.Of("v3-mini", workshop)?.Name);
        Assert.Equal("workshop", References.Of("v3-mini", workshop with { Seeds = [7, 8] })?.Name);
        Assert.Null(References.Of("v3-mini", workshop with { Training = workshop.Training with { Steps = workshop.Training.Steps + 1 } }));
        Assert.Null(References.Of("mtp", workshop));
        Assert.Equal("0–9", References.SeedRange([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
        Assert.Equal("0, 2, 3", References.SeedRange([0, 2, 3]));
    }

    [Fact]
    public void Show_prints_each_reference_as_markdown_with_its_n_and_verdicts()
    {
        var path = Path.Combine(TestPaths.TempFolder(), "tiny.json");
        References.Write(Tiny.Value.Reference, path);

        var (exit, stdout, stderr) = InProcessCli.Run("results", "show", path, "--markdown");

        Assert.True(exit == 0, stderr);
        Assert.Contains("**fp8-training, tiny config: n = 3 seeds (0–2)", stdout);
        Assert.Contains("| arm | n | diverged | mean | sd | t_interval | delta | delta_t_interval | delta_bootstrap | p_holm | verdict |", stdout);
        Assert.Contains("|---|---:|---:|---:|---:|---|---|---|---|---:|---|", stdout);
        var perTensor = Tiny.Value.Reference.Comparison("final validation loss")["FP8 per-tensor"];
        Assert.Contains($"| FP8 per-tensor | 3 | 0 |", stdout);
        Assert.Contains($"| {Research.Sweeps.Verdicts.Name(perTensor.Verdict)} |", stdout);
    }
}
