import type { ESLint, Rule } from 'eslint'

export declare const layers: string[][]
export declare const sideways: Record<string, string[]>
export declare function folderOf(file: string, srcDir: string): string | undefined
export declare function layerProblem(from: string, to: string): string | undefined
export declare const layersRule: Rule.RuleModule
declare const plugin: ESLint.Plugin
export default plugin
