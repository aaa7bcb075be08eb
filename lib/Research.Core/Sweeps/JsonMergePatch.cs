using System.Text.Json.Nodes;

namespace Research.Sweeps;

/// <summary>
/// JSON Merge Patch (RFC 7386): an object patch merges into the target key by key, <c>null</c> removes a key, and any
/// other value (arrays included) replaces the target's value whole.
/// </summary>
public static class JsonMergePatch
{
    /// <summary>The result of applying <paramref name="patch"/> to <paramref name="target"/>; neither is changed.</summary>
    public static JsonNode? Apply(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject) return patch?.DeepClone();
        var result = target is JsonObject t ? (JsonObject)t.DeepClone() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null) result.Remove(key);
            else result[key] = Apply(result[key], value);
        }
        return result;
    }
}
