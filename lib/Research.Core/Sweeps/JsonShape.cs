using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Research.Experiments;

namespace Research.Sweeps;

/// <summary>
/// What JSON a config or result type reads and writes, as System.Text.Json sees it with the kit's options (so names
/// are exactly the camelCase ones in the files): the fields of an object, the element type of a list.
/// </summary>
public static class JsonShape
{
    /// <summary>The JSON field names of <paramref name="type"/>, or null when it is not a JSON object with fixed fields.</summary>
    public static IReadOnlyList<(string Name, Type Type)>? Fields(Type type)
    {
        var info = Info(type);
        // [JsonIgnore] properties stay in the contract (with no getter or setter); they are not fields of the JSON.
        var fields = info?.Kind == JsonTypeInfoKind.Object
            ? info.Properties.Where(p => p.AttributeProvider?.IsDefined(typeof(System.Text.Json.Serialization.JsonIgnoreAttribute), true) != true).ToList()
            : [];
        return fields.Count > 0 ? fields.Select(p => (p.Name, p.PropertyType)).ToList() : null;
    }

    /// <summary>The element type when <paramref name="type"/> is written as a JSON array, else null.</summary>
    public static Type? ElementType(Type type) => Info(type) is { Kind: JsonTypeInfoKind.Enumerable } info ? info.ElementType : null;

    /// <summary>True for types written as a JSON number.</summary>
    public static bool IsNumber(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t == typeof(double) || t == typeof(float) || t == typeof(int) || t == typeof(long) || t == typeof(decimal)
               || t == typeof(short) || t == typeof(uint) || t == typeof(ulong);
    }

    /// <summary>
    /// Checks that every key of <paramref name="patch"/> (recursively, into nested objects) is a field of
    /// <paramref name="type"/>; <paramref name="where"/> names the patch in the error, which lists the valid fields.
    /// </summary>
    public static void CheckPatch(JsonObject patch, Type type, string where)
    {
        var fields = Fields(type);
        if (fields is null) return;   // a dictionary or an open object: any key is a value, not a field
        foreach (var (key, value) in patch)
        {
            var match = fields.FirstOrDefault(f => f.Name == key);
            if (match.Name is null)
            {
                var near = fields.FirstOrDefault(f => string.Equals(f.Name, key, StringComparison.OrdinalIgnoreCase)).Name;
                throw new ConfigException($"{where}: the config has no field '{key}'" + (near is null ? "" : $" (did you mean '{near}'?)") +
                                          $"; valid fields here: {string.Join(", ", fields.Select(f => f.Name))}");
            }
            if (value is JsonObject inner) CheckPatch(inner, Nullable.GetUnderlyingType(match.Type) ?? match.Type, $"{where}.{key}");
        }
    }

    private static JsonTypeInfo? Info(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(object) || t.IsInterface && !typeof(System.Collections.IEnumerable).IsAssignableFrom(t)) return null;
        return ExperimentConfigs.Json.GetTypeInfo(t);
    }
}
