// Package entry for asc's package resolution (`import … from "spacedrive-sdk"`), which looks
// for <package>/index.ts. The SDK lives in assembly/.
export * from "./assembly/index";
