namespace Liaoyuan.Server.Store;

/// <summary>A model-store problem the user can act on (a bad name, an unknown repo, a failed or corrupt download).</summary>
public sealed class ModelStoreException(string message, Exception? inner = null) : Exception(message, inner);
