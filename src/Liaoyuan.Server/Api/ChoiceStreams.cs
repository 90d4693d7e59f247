using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Liaoyuan.Server.Scheduling;

namespace Liaoyuan.Server.Api;

/// <summary>Reads the events of several sequences (the n choices of one request) as one stream, tagged by choice.</summary>
internal static class ChoiceStreams
{
    public static async IAsyncEnumerable<(int Choice, SequenceEvent Event)> Merge(
        IReadOnlyList<SequenceRequest> requests, [EnumeratorCancellation] CancellationToken cancel)
    {
        if (requests.Count == 1)
        {
            await foreach (var e in requests[0].Output.ReadAllAsync(cancel)) yield return (0, e);
            yield break;
        }
        var merged = Channel.CreateUnbounded<(int, SequenceEvent)>();
        var pumps = requests.Select((request, choice) => Pump(choice, request, merged.Writer, cancel)).ToArray();
        _ = Task.WhenAll(pumps).ContinueWith(done => merged.Writer.TryComplete(done.Exception?.InnerException), TaskScheduler.Default);
        await foreach (var item in merged.Reader.ReadAllAsync(cancel)) yield return item;
    }

    private static async Task Pump(int choice, SequenceRequest request, ChannelWriter<(int, SequenceEvent)> output, CancellationToken cancel)
    {
        await foreach (var e in request.Output.ReadAllAsync(cancel)) await output.WriteAsync((choice, e), cancel);
    }
}
