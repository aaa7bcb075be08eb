using System.Globalization;
using Research.Experiments;
using Xunit;

namespace Research.Tests.Experiments;

public sealed class ResultTableTests
{
    private sealed record Point(string Name, int Step, double TrainLoss, double? ValidationLoss, bool Done,
        [property: Column("p_holm", Format = "F2")] double AdjustedPValue);

    private sealed record Loads(string Strategy, [property: Column(Spread = true)] long[] Expert, IReadOnlyList<Point> Ignored);

    private static readonly Point[] Points = [new("a,b", 1, 0.1 + 0.2, null, true, 1e-20), new("say \"hi\"", 20_000, 2.5, 1.25, false, 0.5)];

    [Fact]
    public void Csv_header_is_the_record_properties_in_snake_case_and_values_round_trip()
    {
        var csv = ResultTable.Of("points", Points).ToCsv().Split('\n');

        Assert.Equal("name,step,train_loss,validation_loss,done,p_holm", csv[0]);
        Assert.Equal("\"a,b\",1,0.30000000000000004,,True,1E-20", csv[1]);   // quoted separator, empty for no value
        Assert.Equal("\"say \"\"hi\"\"\",20000,2.5,1.25,False,0.5", csv[2]);
        Assert.Equal(0.1 + 0.2, double.Parse(csv[1].Split(',')[3], CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Csv_and_display_use_a_decimal_point_whatever_the_culture()
    {
        var before = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = new CultureInfo("de-DE");   // writes 2,5 and 20.000 when asked
            var table = ResultTable.Of("points", Points);

            Assert.Equal("\"say \"\"hi\"\"\",20000,2.5,1.25,False,0.5", table.ToCsv().Split('\n')[2]);
            Assert.Equal(["say \"hi\"", "20,000", "2.5", "1.25", "no", "0.50"], table.DisplayRows().ElementAt(1));
        }
        finally
        {
            CultureInfo.CurrentCulture = before;
        }
    }

    [Fact]
    public void Spread_lists_get_a_column_per_item_and_records_are_left_out()
    {
        var table = ResultTable.Of("loads", [new Loads("aux", [3, 4, 5], []), new Loads("free", [6, 7], [])]);

        Assert.Equal(["strategy", "expert_0", "expert_1", "expert_2"], table.Columns);
        Assert.Equal("strategy,expert_0,expert_1,expert_2\naux,3,4,5\nfree,6,7,\n", table.ToCsv());
    }

    [Fact]
    public void Keyed_rows_put_the_key_first()
    {
        var table = ResultTable.Of("curves", "run", Points.Select(p => ("mla", p)), display: false);

        Assert.Equal(["run", "name", "step", "train_loss", "validation_loss", "done", "p_holm"], table.Columns);
        Assert.All(table.CsvRows(), row => Assert.Equal("mla", row[0]));
        Assert.False(table.Display);
    }

    [Fact]
    public void Html_is_a_table_with_every_header_and_escaped_cells()
    {
        var table = ResultTable.Of("points", Points);

        var html = table.ToHtml();

        Assert.StartsWith("<table", html);
        Assert.EndsWith("</table>", html);
        foreach (var column in table.Columns) Assert.Contains($">{column}</th>", html);
        Assert.Contains("<td>say &quot;hi&quot;</td>", html);
        Assert.Contains("<td style=\"text-align:right\">–</td>", html);   // no validation loss
        Assert.Equal(Points.Length, html.Split("<tr>").Length - 2);       // header row plus one per point
    }
}
