import { Command } from "commander";
export function experimentCommand(): Command { return new Command("experiment").description("not yet"); }
