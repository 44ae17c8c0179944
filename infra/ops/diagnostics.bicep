// The function app's own logs (the Functions host and worker: starts, invocations, errors,
// timer and queue trigger messages) into the Log Analytics workspace, table FunctionAppLogs
// ("Monitoring Azure Functions with Azure Monitor Logs",
// https://learn.microsoft.com/azure/azure-functions/functions-monitor-log-analytics). The run
// events and the app's Python logs reach the same workspace through Application Insights
// (AppEvents, AppTraces); together they are what the workbook and the alerts read.
// On Flex Consumption this diagnostic setting logs every host message whatever host.json's
// log levels say (https://github.com/Azure/azure-functions-host/issues/11434): mind the
// ingestion volume. No metrics: the app's metrics are in Application Insights already.

@description('Function app name.')
param siteName string

@description('Log Analytics workspace that receives the logs.')
param logAnalyticsName string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource functionAppLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'function-app-logs-to-workspace'
  scope: site
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
  }
}
