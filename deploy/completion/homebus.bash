# bash completion for homebus, the command line of the homebus stack.
# Installed as /usr/share/bash-completion/completions/homebus (or sourced).

_homebus()
{
	local cur prev words cword
	_init_completion || return

	local commands="deploy rollback backup available status deploys backups
		notify tail publish doctor"
	local i cmd=""
	for ((i = 1; i < cword; i++)); do
		case "${words[i]}" in
		-c|--config) ((i++)) ;;
		-*) ;;
		*) cmd="${words[i]}"; break ;;
		esac
	done

	if [[ -z "$cmd" ]]; then
		case "$prev" in
		-c|--config) _filedir json; return ;;
		esac
		if [[ "$cur" == -* ]]; then
			COMPREPLY=($(compgen -W "-c --config -v --verbose -V --version
				-h --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	case "$prev" in
	--severity) COMPREPLY=($(compgen -W "info warning error critical" -- "$cur")); return ;;
	--qos) COMPREPLY=($(compgen -W "0 1" -- "$cur")); return ;;
	--timeout|-n|--title|--key|--services|--to|--instance) return ;;
	esac

	local opts="--help"
	case "$cmd" in
	deploy) opts="--services --wait --timeout --json --instance --help" ;;
	rollback) opts="--to --wait --timeout --json --instance --help" ;;
	backup) opts="--wait --timeout --json --instance --help" ;;
	status|backups|doctor) opts="--json --help" ;;
	deploys) opts="-n --json --help" ;;
	notify) opts="--severity --title --key --help" ;;
	tail) opts="--json --help" ;;
	publish) opts="--retain --qos --help" ;;
	esac
	if [[ "$cur" == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	elif [[ "$cmd" == tail || "$cmd" == publish ]]; then
		COMPREPLY=($(compgen -W "homebus/# homebus/points/# homebus/health/#
			homebus/notify/# homebus/deploy/state homebus/svc/#" -- "$cur"))
	fi
} &&
complete -F _homebus homebus
