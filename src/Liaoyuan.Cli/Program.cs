return Liaoyuan.Cli.LiaoyuanCommand.Run(args);
