// The workbook of runs and audience sizes, over the run events in the Log Analytics
// workspace (AppEvents). Its content is workbook.json (the workbook format, "Notebook/1.0",
// https://learn.microsoft.com/azure/azure-monitor/visualize/workbooks-automate), whose
// fallbackResourceIds placeholder is replaced by the workspace id, so every query runs
// against the workspace. Open it in the portal: Monitor > Workbooks, or the resource group
// (docs/deploy.md "Open the workbook").

@description('Azure region.')
param location string

@description('Tags applied to the workbook.')
param tags object = {}

@description('Log Analytics workspace the queries read.')
param logAnalyticsName string

@description('Display name of the workbook (unique in the resource group).')
param displayName string

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name must be a GUID: derived from the group and display name, so that a
  // redeployment updates the same workbook.
  name: guid(resourceGroup().id, displayName)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: workspace.id
    version: 'Notebook/1.0'
    serializedData: replace(loadTextContent('workbook.json'), '__WORKSPACE_ID__', workspace.id)
  }
}

output id string = workbook.id
output name string = workbook.name
