using Research.Experiments;
using Xunit;

namespace Research.Tests.Experiments;

public sealed class ExperimentWriterTests
{
    private static readonly ExperimentDefinition Definition = new("demo", "Demo", "A demo.", _ => throw new NotSupportedException());

    private static ExperimentOutput Output(params ResultTable[] tables) => new(new { }, 1, new { value = 1 }, ["line"], tables, []);

    private static ExperimentDocument Document() => new("demo", "Demo", 1, "cpu", 0.1, DateTime.UnixEpoch, new { }, new { value = 1 });

    [Fact]
    public void Csv_quotes_separators_and_uses_invariant_round_trip_numbers()
    {
        var table = new ResultTable("t", ["name", "x"], [["a,b", 0.1], ["say \"hi\"", 1e-20]]);

        var csv = ExperimentWriter.ToCsv(table);

        Assert.Equal("name,x\n\"a,b\",0.1\n\"say \"\"hi\"\"\",1E-20\n", csv);
    }

    [Fact]
    public void A_failing_write_leaves_the_previous_run_intact_and_no_temporary_folder()
    {
        var root = TestPaths.TempFolder();
        ExperimentWriter.Write(root, Definition, Output(new ResultTable("good", ["x"], [[1]])), Document());

        // A row with the wrong number of values fails half-way through writing.
        var broken = Output(new ResultTable("good", ["x"], [[2]]), new ResultTable("bad", ["x", "y"], [[1]]));
        Assert.Throws<ArgumentException>(() => ExperimentWriter.Write(root, Definition, broken, Document()));

        Assert.Equal("x\n1\n", File.ReadAllText(Path.Combine(root, "demo", "good.csv")));
        Assert.False(File.Exists(Path.Combine(root, "demo", "bad.csv")));
        Assert.Equal([Path.Combine(root, "demo")], Directory.GetDirectories(root));
    }

    [Fact]
    public void A_new_run_replaces_the_old_folder_whole()
    {
        var root = TestPaths.TempFolder();
        ExperimentWriter.Write(root, Definition, Output(new ResultTable("old", ["x"], [[1]])), Document());

        ExperimentWriter.Write(root, Definition, Output(new ResultTable("new", ["x"], [[2]])), Document());

        Assert.Equal(["index.html", "new.csv", "result.json"],
            Directory.GetFiles(Path.Combine(root, "demo")).Select(Path.GetFileName).Order());
        Assert.Single(Directory.GetDirectories(root));
    }
}
