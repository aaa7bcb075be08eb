using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Research.Experiments;

namespace Research.Sweeps;

/// <summary>
/// A path to one number in an experiment's result (the <c>result</c> of its <c>--json</c> document):
/// fields joined by dots, and for a list either an index, <c>runs[0]</c>, or a selector of the one element whose
/// fields have the given values, <c>runs[name=full]</c> or <c>runs[task=corpus,depth=1]</c>.
/// </summary>
public sealed partial record MetricPath(string Text, IReadOnlyList<MetricPath.Step> Steps)
{
    /// <summary>One field, then optionally an index or a selector into the list it holds.</summary>
    public sealed record Step(string Field, int? Index, IReadOnlyList<(string Field, string Value)>? Select);

    [GeneratedRegex(@"^(?<field>[A-Za-z_][A-Za-z0-9_]*)(\[(?<sel>[^\]]+)\])?$")]
    private static partial Regex StepPattern();

    /// <summary>Parses <paramref name="text"/>; <paramref name="where"/> names it in errors.</summary>
    public static MetricPath Parse(string text, string where)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ConfigException($"{where}: the path is empty");
        var steps = new List<Step>();
        foreach (var part in text.Split('.'))
        {
            var m = StepPattern().Match(part);
            if (!m.Success)
                throw new ConfigException($"{where}: '{part}' in '{text}' is not a step; write field, field[2] or field[name=value]");
            string field = m.Groups["field"].Value;
            if (!m.Groups["sel"].Success) { steps.Add(new Step(field, null, null)); continue; }
            string sel = m.Groups["sel"].Value.Trim();
            if (int.TryParse(sel, NumberStyles.None, CultureInfo.InvariantCulture, out int index)) { steps.Add(new Step(field, index, null)); continue; }
            var pairs = new List<(string, string)>();
            foreach (var pair in sel.Split(','))
            {
                int eq = pair.IndexOf('=');
                if (eq <= 0 || eq == pair.Length - 1)
                    throw new ConfigException($"{where}: selector '[{sel}]' in '{text}' must be an index or field=value pairs separated by commas");
                pairs.Add((pair[..eq].Trim(), pair[(eq + 1)..].Trim()));
            }
            steps.Add(new Step(field, null, pairs));
        }
        return new MetricPath(text, steps);
    }

    /// <summary>
    /// Checks the path against the result type: every field exists, indices and selectors fall on lists whose elements
    /// have the selector's fields, and the path ends on a number. Parts typed <c>object</c> are checked on the first result.
    /// </summary>
    public void CheckAgainst(Type resultType, string where)
    {
        Type? type = resultType;
        string at = "result";
        foreach (var step in Steps)
        {
            if (type is null) return;   // an open (object-typed) value: only a real result can say
            var fields = JsonShape.Fields(type);
            if (fields is null) return;
            var field = fields.FirstOrDefault(f => f.Name == step.Field);
            if (field.Name is null)
                throw new ConfigException($"{where}: '{Text}': {at} has no field '{step.Field}'; its fields: {string.Join(", ", fields.Select(f => f.Name))}");
            type = field.Type;
            at = $"{at}.{step.Field}";
            if (step.Index is null && step.Select is null) continue;
            var element = JsonShape.ElementType(type)
                ?? throw new ConfigException($"{where}: '{Text}': {at} is not a list, so it takes no [index] or [selector]");
            if (step.Select is not null && JsonShape.Fields(element) is { } elementFields)
                foreach (var (name, _) in step.Select)
                    if (elementFields.All(f => f.Name != name))
                        throw new ConfigException($"{where}: '{Text}': the elements of {at} have no field '{name}' to select on; their fields: {string.Join(", ", elementFields.Select(f => f.Name))}");
            type = element;
            at += "[…]";
        }
        if (type is not null && JsonShape.Fields(type) is not null || type is not null && JsonShape.ElementType(type) is not null)
            throw new ConfigException($"{where}: '{Text}' ends on {at}, which is not a number; name a numeric field inside it");
        if (type is not null && type != typeof(object) && !JsonShape.IsNumber(type))
            throw new ConfigException($"{where}: '{Text}' ends on {at} of type {type.Name}, which is not a number");
    }

    /// <summary>The number at this path in <paramref name="result"/>; an error names the step that does not match.</summary>
    public double Evaluate(JsonNode? result)
    {
        JsonNode? node = result;
        string at = "result";
        foreach (var step in Steps)
        {
            node = (node as JsonObject)?[step.Field] is { } next ? next
                : throw new MetricException($"metric '{Text}': {at} has no field '{step.Field}'");
            at = $"{at}.{step.Field}";
            if (step.Index is null && step.Select is null) continue;
            if (node is not JsonArray list) throw new MetricException($"metric '{Text}': {at} is not a list");
            if (step.Index is int i)
            {
                node = i < list.Count ? list[i] : throw new MetricException($"metric '{Text}': {at} has {list.Count} elements, no [{i}]");
                at += $"[{i}]";
                continue;
            }
            var matches = list.Where(e => step.Select!.All(s => e is JsonObject o && o[s.Field] is JsonValue v && Same(v, s.Value))).ToList();
            if (matches.Count != 1)
                throw new MetricException($"metric '{Text}': [{string.Join(',', step.Select!.Select(s => $"{s.Field}={s.Value}"))}] selects " +
                                          $"{matches.Count} elements of {at}, expected exactly one");
            node = matches[0];
            at += "[…]";
        }
        if (node is JsonValue value)
        {
            if (value.TryGetValue(out double d)) return d;
            // Named non-finite literals ("NaN", "Infinity") are how the kit's JSON writes a diverged loss.
            if (value.TryGetValue(out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return d;
        }
        throw new MetricException($"metric '{Text}': {at} is not a number");
    }

    // Selector values are written without quotes: compare with a string's text or a number's JSON text.
    private static bool Same(JsonValue v, string expected) => v.GetValueKind() switch
    {
        JsonValueKind.String => v.GetValue<string>() == expected,
        JsonValueKind.Number => v.ToJsonString() == expected
                                || double.TryParse(expected, NumberStyles.Float, CultureInfo.InvariantCulture, out double e) && v.GetValue<double>() == e,
        JsonValueKind.True => expected == "true",
        JsonValueKind.False => expected == "false",
        _ => false,
    };
}

/// <summary>A metric path that a finished cell's result does not contain.</summary>
public sealed class MetricException(string message) : Exception(message);
