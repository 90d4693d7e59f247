using System.Globalization;
using System.Text;

namespace Liaoyuan.Training.Reporting;

/// <summary>An SVG line chart of the training loss per step and the held-out loss at its evaluation steps.</summary>
public static class LossChart
{
    private const int Width = 800, Height = 450, Left = 60, Right = 20, Top = 40, Bottom = 50;

    public static string Svg(IReadOnlyList<double> trainLosses, IReadOnlyList<EvaluationPoint> heldOut, string title)
    {
        var all = trainLosses.Concat(heldOut.Select(e => e.Loss)).Where(double.IsFinite).ToList();
        double low = all.Count > 0 ? Math.Floor(all.Min()) : 0, high = all.Count > 0 ? Math.Ceiling(all.Max()) : 1;
        if (high <= low) high = low + 1;
        long steps = Math.Max(1, Math.Max(trainLosses.Count, heldOut.Count > 0 ? heldOut.Max(e => e.Step) : 0));
        double X(double step) => Left + step / steps * (Width - Left - Right);
        double Y(double loss) => Top + (high - loss) / (high - low) * (Height - Top - Bottom);
        static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

        var svg = new StringBuilder();
        svg.AppendLine($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"12\">");
        svg.AppendLine($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>");
        svg.AppendLine($"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>");
        for (int i = 0; i <= 5; i++)
        {
            double loss = low + (high - low) * i / 5, y = Y(loss);
            svg.AppendLine($"<line x1=\"{Left}\" y1=\"{F(y)}\" x2=\"{Width - Right}\" y2=\"{F(y)}\" stroke=\"#e5e5e5\"/>");
            svg.AppendLine($"<text x=\"{Left - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{F(loss)}</text>");
            double step = steps * i / 5.0, x = X(step);
            svg.AppendLine($"<text x=\"{F(x)}\" y=\"{Height - Bottom + 18}\" text-anchor=\"middle\">{F(Math.Round(step))}</text>");
        }
        svg.AppendLine($"<text x=\"{Width / 2}\" y=\"{Height - 12}\" text-anchor=\"middle\">step</text>");
        svg.AppendLine($"<text x=\"16\" y=\"{Height / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {Height / 2})\">loss</text>");
        if (trainLosses.Count > 0)
            svg.AppendLine(Polyline(trainLosses.Select((loss, i) => (X(i + 1), Y(loss))), "#1f77b4"));
        if (heldOut.Count > 0)
        {
            svg.AppendLine(Polyline(heldOut.Select(e => (X(e.Step), Y(e.Loss))), "#d62728"));
            foreach (var e in heldOut) svg.AppendLine($"<circle cx=\"{F(X(e.Step))}\" cy=\"{F(Y(e.Loss))}\" r=\"3\" fill=\"#d62728\"/>");
        }
        svg.AppendLine($"<text x=\"{Width - Right - 150}\" y=\"{Top + 14}\" fill=\"#1f77b4\">— training loss</text>");
        svg.AppendLine($"<text x=\"{Width - Right - 150}\" y=\"{Top + 30}\" fill=\"#d62728\">● held-out loss</text>");
        svg.AppendLine("</svg>");
        return svg.ToString();

        string Polyline(IEnumerable<(double X, double Y)> points, string color) =>
            $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{string.Join(' ', points.Where(p => double.IsFinite(p.Y)).Select(p => $"{F(p.X)},{F(p.Y)}"))}\"/>";
    }

    private static string Escape(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
