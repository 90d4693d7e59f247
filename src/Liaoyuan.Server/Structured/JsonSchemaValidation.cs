using System.Text.Json;

namespace Liaoyuan.Server.Structured;

internal static class JsonSchemaValidation
{
    /// <summary>Refuses (400) a schema that is invalid or uses what constrained decoding cannot enforce.</summary>
    public static void Check(JsonElement schema, string param) => JsonSchemaGrammar.Compile(schema, param);
}
