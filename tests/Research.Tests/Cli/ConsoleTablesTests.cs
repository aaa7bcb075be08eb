using Research.Cli;
using Research.Experiments;
using Xunit;

namespace Research.Tests.Cli;

public sealed class ConsoleTablesTests
{
    // Wider than Spectre's default 80 columns once drawn.
    private sealed record WideRow(string Name, double InitialValidationLoss, double FinalValidationLoss, long CacheElementsPerTokenPerLayer,
        long CacheBytesPerTokenFloat32, double SpeculativeTokensPerSecond, double DecodingMaxLogitError, bool DecodingMatches);

    [Fact]
    public void A_table_written_to_a_file_keeps_every_row_on_one_line_with_every_column()
    {
        var rows = new[]
        {
            new WideRow("multi-head-latent-attention", 3.9460, 1.0082, 576, 2304, 1234.5, 1e-6, true),
            new WideRow("grouped-query-attention", 3.9624, 1.0015, 2048, 8192, 987.6, 2e-6, false),
        };
        var table = ResultTable.Of("variants", rows);
        var output = new StringWriter();

        ConsoleTables.Write(output, table);

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => table.Columns.All(c => l.Contains(c, StringComparison.Ordinal)));
        foreach (var row in table.DisplayRows())
            Assert.Contains(lines, l => row.All(cell => l.Contains(cell, StringComparison.Ordinal)));
        Assert.Equal(5 + rows.Length, lines.Length);   // title, top border, header, rule, bottom border and one line per row
        Assert.DoesNotContain('\u001b', output.ToString());    // no colour codes in a file
    }
}
