/**
 * Completion scripts for bash and zsh. Both delegate to `vireo __complete -- WORDS… CURRENT`,
 * which prints one candidate per line, so the logic (and live object names) stays in one place.
 */

export function bashScript(prog = 'vireo'): string {
  return `# bash completion for ${prog}; load with: source <(${prog} completion bash)
_${prog}_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local IFS=$'\\n'
  local -a candidates
  candidates=( $(${prog} __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null) )
  COMPREPLY=()
  local c
  for c in "\${candidates[@]}"; do
    COMPREPLY+=( "$(printf '%q' "$c")" )
  done
  if [[ \${#COMPREPLY[@]} -eq 0 ]]; then
    compopt -o default 2>/dev/null
  fi
}
complete -F _${prog}_complete ${prog}
`;
}

export function zshScript(prog = 'vireo'): string {
  return `#compdef ${prog}
# zsh completion for ${prog}; load with: source <(${prog} completion zsh)
_${prog}() {
  local out
  out="$(${prog} __complete -- "\${(@)words[2,CURRENT-1]}" "\${words[CURRENT]}" 2>/dev/null)"
  if [[ -n "$out" ]]; then
    local -a candidates
    candidates=("\${(@f)out}")
    compadd -- "\${candidates[@]}"
  else
    _files
  fi
}
if (( $+functions[compdef] )); then
  compdef _${prog} ${prog}
fi
`;
}
