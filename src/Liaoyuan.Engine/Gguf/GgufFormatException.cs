namespace Liaoyuan.Engine.Gguf;

/// <summary>A GGUF file that cannot be used, with the file, the field or tensor and the byte offset at fault.</summary>
public sealed class GgufFormatException(string message) : Exception(message);
