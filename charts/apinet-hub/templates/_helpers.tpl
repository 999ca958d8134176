{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "apinet-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "apinet-hub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "apinet-hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "apinet-hub.labels" -}}
helm.sh/chart: {{ include "apinet-hub.chart" . }}
{{ include "apinet-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the hub's pods. */}}
{{- define "apinet-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apinet-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "apinet-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "apinet-hub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The hub's image: by digest when image.digest is set, else by tag. */}}
{{- define "apinet-hub.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The leader-election Lease; must match LeaderElectionID in cmd/apinet-hub/run.go. */}}
{{- define "apinet-hub.leaseName" -}}
apinet-hub.ironcore.dev
{{- end }}

{{/* Where the access-provider file is mounted. */}}
{{- define "apinet-hub.accessProvidersDir" -}}
/etc/apinet-hub/access-providers
{{- end }}

{{/*
The access providers of the --clusterprofile-provider-file: the values', and
with secretReader.enabled Cluster Inventory's secret-reader plugin, shipped
in the image. It reads a member's token from Secret <namespace>/<cluster
name> (key "token") on the hub with the pod's ServiceAccount; the namespace
comes from the current context of the kubeconfig it is given (its cluster is
unused: the plugin connects in-cluster).
*/}}
{{- define "apinet-hub.accessProviders" -}}
{{- $providers := .Values.accessProviders | default list }}
{{- if .Values.secretReader.enabled }}
{{- $providers = append $providers (dict "name" "secretreader" "execConfig" (dict
  "apiVersion" "client.authentication.k8s.io/v1"
  "command" "/plugins/secretreader"
  "provideClusterInfo" true
  "interactiveMode" "Never"
  "env" (list (dict "name" "KUBECONFIG" "value" (printf "%s/secretreader.kubeconfig" (include "apinet-hub.accessProvidersDir" .)))))) }}
{{- end }}
{{- toJson $providers }}
{{- end }}

{{/* The hub namespace of the secret reader's token Secrets. */}}
{{- define "apinet-hub.secretReaderNamespace" -}}
{{- .Values.secretReader.namespace | default (first (.Values.fleetNamespaces | default (list .Release.Namespace))) }}
{{- end }}

{{/*
The hub's rules on the namespaces it reads profiles from: a Role per fleet
namespace, or one ClusterRole when it watches every namespace.
*/}}
{{- define "apinet-hub.fleetRules" -}}
# ClusterProfiles: the hub's cache lists and watches them.
- apiGroups: ["multicluster.x-k8s.io"]
  resources: ["clusterprofiles"]
  verbs: ["get", "list", "watch"]
# The hub server-side-applies its Engaged condition to the status.
- apiGroups: ["multicluster.x-k8s.io"]
  resources: ["clusterprofiles/status"]
  verbs: ["patch"]
# Credential Secrets (x-k8s.io/cluster-inventory-consumer=apinet-hub); the
# cache lists and watches only the labelled ones, RBAC cannot narrow by label.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# Events on ClusterProfiles (controller-runtime's events.k8s.io/v1 recorder;
# patch updates the series of a repeated Event).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
The ClusterProfile CRD the chart pins: sigs.k8s.io/cluster-inventory-api at
the version of go.mod (test/chart checks both), copied verbatim into
files/crds.
*/}}
{{- define "apinet-hub.clusterProfileAPIVersion" -}}
v0.1.2
{{- end }}

{{- define "apinet-hub.clusterProfileCRDFile" -}}
files/crds/multicluster.x-k8s.io_clusterprofiles.yaml
{{- end }}

{{/* The pinned command that installs the ClusterProfile CRD by hand. */}}
{{- define "apinet-hub.clusterProfileCRDCommand" -}}
kubectl apply --server-side -f https://raw.githubusercontent.com/kubernetes-sigs/cluster-inventory-api/{{ include "apinet-hub.clusterProfileAPIVersion" . }}/config/crd/bases/multicluster.x-k8s.io_clusterprofiles.yaml
{{- end }}

{{/*
Fails an install or upgrade (and helm template, which renders an install)
when the cluster does not serve ClusterProfiles and crds.install is off: the
hub would start, and fail to list its fleet. helm lint (neither install nor
upgrade) knows no cluster and skips it. helm template knows only the API
versions of --api-versions.
*/}}
{{- define "apinet-hub.requireClusterProfileAPI" -}}
{{- if and (or .Release.IsInstall .Release.IsUpgrade) (not .Values.crds.install) (not (.Capabilities.APIVersions.Has "multicluster.x-k8s.io/v1alpha1/ClusterProfile")) }}
{{- fail (printf "the cluster does not serve the ClusterProfile API (multicluster.x-k8s.io/v1alpha1/ClusterProfile), which apinet-hub reads its fleet from. Install its CRD (cluster-inventory-api %s) first: `%s`, or set crds.install=true to have the chart install it. helm template: pass --api-versions multicluster.x-k8s.io/v1alpha1/ClusterProfile" (include "apinet-hub.clusterProfileAPIVersion" .) (include "apinet-hub.clusterProfileCRDCommand" .)) }}
{{- end }}
{{- end }}
