using System.Collections;
using System.Globalization;
using System.Net;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace Research.Experiments;

/// <summary>
/// How a property of a result row shows as a column: <paramref name="name"/> instead of its snake_case name,
/// <see cref="Format"/> for people (CSV always keeps full precision), <see cref="Spread"/> to give each item of a list
/// a column of its own (<c>expert_0</c>, <c>expert_1</c>, …), or <see cref="Skip"/> to leave it out.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class ColumnAttribute(string? name = null) : Attribute
{
    public string? Name { get; } = name;
    public string? Format { get; init; }
    public bool Spread { get; init; }
    public bool Skip { get; init; }
}

/// <summary>
/// Rows of one record type: written as <c>&lt;Name&gt;.csv</c>, printed as a table by the CLI and shown as an HTML table
/// in notebooks and on an experiment's page. The record's public properties are the columns, in declaration order,
/// named in snake_case; <see cref="ColumnAttribute"/> adjusts one. Properties that hold records (a run's loss curve) are
/// not cells and are left out, so a result's own record can serve as a row.
/// </summary>
public sealed class ResultTable
{
    private readonly IReadOnlyList<Column> _columns;

    private ResultTable(string name, bool display, IReadOnlyList<object> rows, IReadOnlyList<Column> columns) =>
        (Name, Display, Rows, _columns) = (name, display, rows, columns);

    public string Name { get; }

    /// <summary>Whether the CLI prints it after a run; false for long series kept as data (loss curves, per-step logs).</summary>
    public bool Display { get; }

    /// <summary>The row records.</summary>
    public IReadOnlyList<object> Rows { get; }

    public IReadOnlyList<string> Columns => [.. _columns.Select(c => c.Header)];

    /// <summary>Whether column <paramref name="index"/> holds numbers (shown right-aligned).</summary>
    public bool IsNumeric(int index) => _columns[index].Numeric;

    /// <summary>A table of <paramref name="rows"/>, columns from <typeparamref name="TRow"/>'s properties.</summary>
    public static ResultTable Of<TRow>(string name, IEnumerable<TRow> rows, bool display = true) where TRow : notnull
    {
        var list = rows.Cast<object>().ToList();
        return new ResultTable(name, display, list, ColumnsOf(typeof(TRow), list));
    }

    /// <summary>A table of rows that belong to something named in a first column <paramref name="key"/>: a run's loss curve
    /// is its name, then each point's columns.</summary>
    public static ResultTable Of<TRow>(string name, string key, IEnumerable<(string Key, TRow Row)> rows, bool display = true) where TRow : notnull
    {
        var list = rows.Select(r => (object)new Keyed(r.Key, r.Row)).ToList();
        var inner = ColumnsOf(typeof(TRow), [.. list.Select(r => ((Keyed)r).Row)]);
        return new ResultTable(name, display, list,
            [new Column(key, r => ((Keyed)r).Key, null, false), .. inner.Select(c => c with { Value = r => c.Value(((Keyed)r).Row) })]);
    }

    private static List<Column> ColumnsOf(Type type, IReadOnlyList<object> list)
    {
        var columns = new List<Column>();
        // Metadata order is declaration order; GetProperties alone does not promise it.
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken))
        {
            var hint = p.GetCustomAttribute<ColumnAttribute>();
            if (hint?.Skip == true || !IsCell(p.PropertyType)) continue;
            var header = hint?.Name ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name);
            if (hint?.Spread != true)
            {
                columns.Add(new Column(header, r => Get(p, r), hint?.Format, IsNumber(p.PropertyType)));
                continue;
            }
            var item = p.PropertyType.IsArray ? p.PropertyType.GetElementType()! : p.PropertyType.GetGenericArguments().Single();
            int width = list.Count == 0 ? 0 : list.Max(r => ((IList)Get(p, r)!).Count);
            for (int i = 0; i < width; i++)
            {
                int k = i;
                columns.Add(new Column($"{header}_{i}", r => Get(p, r) is IList l && k < l.Count ? l[k] : null, hint.Format, IsNumber(item)));
            }
        }
        return columns;
    }

    /// <summary>The cells as CSV writes them: invariant culture, numbers at round-trip precision, empty for no value.</summary>
    public IEnumerable<IReadOnlyList<string>> CsvRows() => Rows.Select(r => _columns.Select(c => Csv(c.Value(r))).ToList());

    /// <summary>The cells as people read them: each column's format, integers grouped by thousands, "–" for no value.</summary>
    public IEnumerable<IReadOnlyList<string>> DisplayRows() => Rows.Select(r => _columns.Select(c => Shown(c.Value(r), c.Format)).ToList());

    /// <summary>The table as GitHub Markdown (the display formats; numbers right-aligned), for READMEs.</summary>
    public string ToMarkdown()
    {
        static string Cell(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);
        var lines = new List<string>
        {
            "| " + string.Join(" | ", Columns.Select(Cell)) + " |",
            "|" + string.Concat(Enumerable.Range(0, Columns.Count).Select(i => IsNumeric(i) ? "---:|" : "---|")),
        };
        lines.AddRange(DisplayRows().Select(r => "| " + string.Join(" | ", r.Select(Cell)) + " |"));
        return string.Join("\n", lines) + "\n";
    }

    /// <summary>RFC 4180 CSV, a header line of the column names first.</summary>
    public string ToCsv()
    {
        var csv = new StringBuilder();
        foreach (var line in CsvRows().Prepend(Columns)) csv.AppendJoin(',', line.Select(Quote)).Append('\n');
        return csv.ToString();
    }

    /// <summary>An HTML <c>table</c> of the display cells, captioned with the name: notebooks and experiment pages show this.</summary>
    public string ToHtml()
    {
        string Align(int i) => _columns[i].Numeric ? " style=\"text-align:right\"" : "";
        var html = new StringBuilder($"<table class=\"result-table\"><caption>{Html(Name)}</caption>\n<thead><tr>");
        for (int i = 0; i < _columns.Count; i++) html.Append($"<th{Align(i)}>{Html(_columns[i].Header)}</th>");
        html.Append("</tr></thead>\n<tbody>\n");
        foreach (var row in DisplayRows())
            html.Append("<tr>").AppendJoin("", row.Select((cell, i) => $"<td{Align(i)}>{Html(cell)}</td>")).Append("</tr>\n");
        return html.Append("</tbody></table>").ToString();
    }

    private static string Csv(object? value) => value switch
    {
        null => "",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        Enum e => Kebab(e),
        string s => s,
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable items => string.Join(" ", items.Cast<object?>().Select(Csv)),
        _ => value.ToString() ?? "",
    };

    private static string Shown(object? value, string? format) => value switch
    {
        null or double.NaN or float.NaN => "–",
        bool b => b ? "yes" : "no",
        Enum e => Kebab(e),
        string s => s,
        int or long when format is null => ((IFormattable)value).ToString("N0", CultureInfo.InvariantCulture),
        double or float when format is null => ((IFormattable)value).ToString("G4", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(format, CultureInfo.InvariantCulture),
        IEnumerable items => string.Join(" ", items.Cast<object?>().Select(i => Shown(i, format))),
        _ => value.ToString() ?? "",
    };

    private static bool IsNumber(Type type) =>
        (Nullable.GetUnderlyingType(type) ?? type) is var t && (t == typeof(int) || t == typeof(long) || t == typeof(double) || t == typeof(float));

    // A getter's own exception, not reflection's wrapper around it.
    private static object? Get(PropertyInfo p, object row) => p.GetValue(row, BindingFlags.DoNotWrapExceptions, null, null, null);

    // Plain values and flat lists of them; records and nested lists are data for another table.
    private static bool IsCell(Type type) => IsScalar(type) ||
        (type.IsArray ? type.GetElementType() : type.GetInterfaces().Append(type)
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0]) is { } item && IsScalar(item);

    private static bool IsScalar(Type type) =>
        (Nullable.GetUnderlyingType(type) ?? type) is var t && (t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal));

    private static string Kebab(Enum e) => JsonNamingPolicy.KebabCaseLower.ConvertName(e.ToString());

    private static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    private static string Html(string s) => WebUtility.HtmlEncode(s);

    private sealed record Keyed(string Key, object Row);

    private sealed record Column(string Header, Func<object, object?> Value, string? Format, bool Numeric);
}
