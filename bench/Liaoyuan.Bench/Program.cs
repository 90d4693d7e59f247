using Liaoyuan.Bench;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

// liaoyuan-bench train-speed [-t N] [--steps K] [--shape NAME]   training tok/s and MFU vs the PyTorch figures
// liaoyuan-bench gemm [-t N] [-r R]              the training GEMM alone: GFLOP/s and share of the FMA peak
// liaoyuan-bench make-model SHAPE TYPE OUT      write a random-weight model in a real shape
// liaoyuan-bench compare MODEL [-t N] [-r R] [-p P] [-n N]   Liaoyuan vs llama.cpp, alternating, with ratios
// liaoyuan-bench kernels [-t N] [-r R] [-b B] [--types F16,Q8_0]   one matmul per type, best and median times
// liaoyuan-bench bandwidth                      memory read bandwidth and the decode limit it implies
// liaoyuan-bench load (MODEL | --url URL --model-id ID) [--clients 1,4,8,16] [--seconds S] [--soak MINUTES]
//                                               concurrent streaming clients against the HTTP server
// liaoyuan-bench step MODEL [-t N] [--sequences 1,2,4,8]   one batched decode step: forward pass vs sampling per batch size
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: make-model SHAPE TYPE OUT | compare MODEL [-t N] [-r R] [-p P] [-n N] | kernels [-t N] [-r R] [-b B] [--types T,...] | bandwidth | load (MODEL | --url URL --model-id ID) [options] | train-speed [-t N] [--steps K] [--shape NAME] | gemm [-t N] [-r R] | step MODEL [-t N] [--sequences 1,2,4,8]");
    return 2;
}
switch (args[0])
{
    case "make-model":
        var type = Enum.Parse<GgmlType>(args[2], ignoreCase: true);
        var shape = BenchModels.Shape(args[1], type) with { EmbeddingType = type };
        var watch = System.Diagnostics.Stopwatch.StartNew();
        TestModelBuilder.Write(args[3], shape, BenchModels.Vocabulary(BenchModels.VocabSize(args[1])));
        Console.WriteLine($"wrote {args[3]} ({new FileInfo(args[3]).Length / 1e6:F1} MB) in {watch.Elapsed.TotalSeconds:F1} s");
        return 0;
    case "compare":
        return SideBySide.Run(args[1..]);
    case "kernels":
        return KernelBench.Run(args[1..]);
    case "load":
        return await LoadBench.RunAsync(args[1..]);
    case "step":
        return StepBench.Run(args[1..]);
    case "bandwidth":
        Bandwidth.Report();
        return 0;
    case "train-speed":
        return TrainSpeed.Run(args[1..]);
    case "gemm":
        return GemmBench.Run(args[1..]);
    default:
        Console.Error.WriteLine($"unknown command '{args[0]}'");
        return 2;
}
