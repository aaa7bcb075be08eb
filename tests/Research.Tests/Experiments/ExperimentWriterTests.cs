using Research.Experiments;
using Xunit;

namespace Research.Tests.Experiments;

public sealed class ExperimentWriterTests
{
    private static readonly ExperimentDefinition Definition = new("demo", "Demo", "A demo.", _ => throw new NotSupportedException());

    private static ExperimentOutput Output(params ResultTable[] tables) => new(new { }, [1], new { value = 1 }, ["line"], tables, []);

    private static ExperimentDocument Document() => new("demo", "Demo", [1], "cpu", 0.1, DateTime.UnixEpoch, new { }, new { value = 1 });

    private sealed record Row(int X);

    // A row whose value fails when the table is written.
    private sealed record Broken(int X)
    {
        public int Y => throw new ArgumentException("no value");
    }

    private static ResultTable Table(string name, int x) => ResultTable.Of(name, [new Row(x)]);

    [Fact]
    public void A_failing_write_leaves_the_previous_run_intact_and_no_temporary_folder()
    {
        var root = TestPaths.TempFolder();
        ExperimentWriter.Write(root, Definition, Output(Table("good", 1)), Document());

        // A row that cannot give its values fails half-way through writing.
        var broken = Output(Table("good", 2), ResultTable.Of("bad", [new Broken(1)]));
        Assert.Throws<ArgumentException>(() => ExperimentWriter.Write(root, Definition, broken, Document()));

        Assert.Equal("x\n1\n", File.ReadAllText(Path.Combine(root, "demo", "good.csv")));
        Assert.False(File.Exists(Path.Combine(root, "demo", "bad.csv")));
        Assert.Equal([Path.Combine(root, "demo")], Directory.GetDirectories(root));
    }

    [Fact]
    public void A_new_run_replaces_the_old_folder_whole()
    {
        var root = TestPaths.TempFolder();
        ExperimentWriter.Write(root, Definition, Output(Table("old", 1)), Document());

        ExperimentWriter.Write(root, Definition, Output(Table("new", 2)), Document());

        Assert.Equal(["index.html", "new.csv", "result.json"],
            Directory.GetFiles(Path.Combine(root, "demo")).Select(Path.GetFileName).Order());
        Assert.Single(Directory.GetDirectories(root));
    }

    [Fact]
    public void The_page_shows_the_display_tables_and_links_every_csv()
    {
        var root = TestPaths.TempFolder();

        ExperimentWriter.Write(root, Definition, Output(Table("main", 1), ResultTable.Of("curve", [new Row(2)], display: false)), Document());

        var page = File.ReadAllText(Path.Combine(root, "demo", "index.html"));
        Assert.Contains("<caption>main</caption>", page);
        Assert.DoesNotContain("<caption>curve</caption>", page);
        Assert.Contains("href=\"curve.csv\"", page);
    }
}
